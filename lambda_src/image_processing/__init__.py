"""Reacts to objects arriving in the image bucket."""

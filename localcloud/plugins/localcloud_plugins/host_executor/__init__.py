"""Lambda functions as host processes (no containers): see executor.py."""

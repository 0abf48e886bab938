"""The image service end to end against the local cloud (``make test-integration``)."""

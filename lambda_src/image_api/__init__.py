"""The HTTP API: one module, one route and one Lambda function per operation."""

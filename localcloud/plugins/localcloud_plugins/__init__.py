"""LocalStack plugins that let the community runtime serve a CDK app without Docker."""

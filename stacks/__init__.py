"""The image service's CDK constructs and stack."""

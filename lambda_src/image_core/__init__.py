"""The image service's domain, shared by every function: schema, models, use cases, AWS edges."""

"""Reading a configured gateway response as API Gateway does (no LocalStack imports)."""

from __future__ import annotations

JSON = "application/json"


def static_headers(parameters: dict[str, str] | None) -> dict[str, str]:
    """``gatewayresponse.header.X: "'value'"`` -> ``{"X": "value"}`` (static values only)."""
    headers = {}
    for name, value in (parameters or {}).items():
        prefix = "gatewayresponse.header."
        if name.startswith(prefix) and len(value) >= 2 and value[0] == value[-1] == "'":
            headers[name.removeprefix(prefix)] = value[1:-1]
    return headers


def template_for(templates: dict[str, str] | None) -> tuple[str, str] | None:
    """The (content type, template) to render: JSON if configured, else the first one."""
    if not templates:
        return None
    if JSON in templates:
        return JSON, templates[JSON]
    content_type, template = next(iter(templates.items()))
    return content_type, template

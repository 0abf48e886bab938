"""Finding resources in a synthesized template by what they are, never by hashed logical IDs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aws_cdk.assertions import Template

Resource = dict[str, Any]


def resources(template: Template, resource_type: str) -> dict[str, Resource]:
    return {
        logical_id: dict(resource) for logical_id, resource in template.find_resources(resource_type).items()
    }


def only(template: Template, resource_type: str) -> tuple[str, Resource]:
    found = resources(template, resource_type)
    assert len(found) == 1, f"expected one {resource_type}, found {sorted(found)}"
    return next(iter(found.items()))


def image_bucket(template: Template) -> tuple[str, Resource]:
    """The image bucket: the one browsers reach (with CORS rules); prod also has an access-log bucket."""
    found = {
        logical_id: bucket
        for logical_id, bucket in resources(template, "AWS::S3::Bucket").items()
        if "CorsConfiguration" in bucket["Properties"]
    }
    assert len(found) == 1, f"expected one image bucket, found {sorted(found)}"
    return next(iter(found.items()))


def function_by_handler(template: Template, handler: str) -> tuple[str, Resource]:
    found = {
        logical_id: resource
        for logical_id, resource in resources(template, "AWS::Lambda::Function").items()
        if resource["Properties"].get("Handler") == handler
    }
    assert len(found) == 1, f"expected one function with handler {handler}, found {sorted(found)}"
    return next(iter(found.items()))


def referenced_ids(value: Any) -> Iterator[str]:
    """Logical IDs that ``value`` refers to through Ref or Fn::GetAtt, at any depth."""
    if isinstance(value, dict):
        for key, inner in value.items():
            if key == "Ref" and isinstance(inner, str):
                yield inner
            elif key == "Fn::GetAtt":
                yield inner[0]
            else:
                yield from referenced_ids(inner)
    elif isinstance(value, list):
        for inner in value:
            yield from referenced_ids(inner)


def role_statements(template: Template, function_id: str) -> list[Resource]:
    """Every statement of every AWS::IAM::Policy attached to the function's role."""
    function = resources(template, "AWS::Lambda::Function")[function_id]
    (role_id,) = set(referenced_ids(function["Properties"]["Role"]))
    statements: list[Resource] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        if role_id in set(referenced_ids(policy["Properties"].get("Roles", []))):
            statements += policy["Properties"]["PolicyDocument"]["Statement"]
    return statements


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions(statements: list[Resource]) -> set[str]:
    return {action for statement in statements for action in as_list(statement["Action"])}


def api_routes(template: Template) -> dict[tuple[str, str], Resource]:
    """``{(path, HTTP method): AWS::ApiGateway::Method resource}``, paths rebuilt from the resources."""
    path_parts = resources(template, "AWS::ApiGateway::Resource")

    def path_of(resource_id: Any) -> str:
        (parent,) = set(referenced_ids(resource_id))
        if parent not in path_parts:  # the RestApi itself: its root resource
            return ""
        properties = path_parts[parent]["Properties"]
        return f"{path_of(properties['ParentId'])}/{properties['PathPart']}"

    return {
        (path_of(method["Properties"]["ResourceId"]) or "/", method["Properties"]["HttpMethod"]): method
        for method in resources(template, "AWS::ApiGateway::Method").values()
    }

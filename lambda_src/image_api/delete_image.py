"""DELETE /images/{image_id}: remove the image, its object, its variants and its listings; retry-safe."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends, Response
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_api.dependencies import current_caller, image_service
from image_api.resolver import create_resolver, logger
from image_api.use_cases import ImageService
from image_core.identity import Caller

app = create_resolver()


@app.delete("/images/<image_id>")
def delete_image(
    image_id: str,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
) -> Response[None]:
    service.delete_image(image_id, caller)
    return Response(status_code=HTTPStatus.NO_CONTENT.value)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

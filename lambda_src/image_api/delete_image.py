"""DELETE /images/{image_id}: remove the image, its object, its variants and its listings; retry-safe."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import api_function, current_caller, logger, new_router
from image_api.use_cases import ImageService
from image_core.telemetry import count

router = new_router()


@router.delete("/images/<image_id>")
def delete_image(
    image_id: str,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
) -> Response[None]:
    service.delete_image(image_id, caller)
    count("ImagesDeleted", correlation_id=logger.get_correlation_id())
    return Response(status_code=HTTPStatus.NO_CONTENT.value)


app, handler = api_function(router)

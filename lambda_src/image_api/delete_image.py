"""DELETE /images/{image_id}: remove the image, its object, its variants and its listings; retry-safe."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends, Response

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import ImageIdInPath, api_function, current_caller, logger, new_router, route_answers
from image_api.use_cases import ImageService
from image_core.errors import Conflict, Forbidden, NotFound
from image_core.telemetry import count

router = new_router()


@router.delete(
    "/images/<image_id>",
    status_code=HTTPStatus.NO_CONTENT.value,
    operation_id="delete_image",
    tags=["images"],
    summary="Delete an image, its original and every variant (the owner only)",
    description=(
        "In any state. A delete that fails part-way leaves the image hidden, and the same "
        "DELETE repeated finishes it."
    ),
    responses=route_answers(
        HTTPStatus.NO_CONTENT,
        "Deleted; the image is not found from now on.",
        {
            Forbidden: "Someone else's public image (one the caller can see).",
            NotFound: "No such image, or one the caller may not see.",
            Conflict: "The image kept changing under concurrent writes; retry.",
        },
    ),
)
def delete_image(
    image_id: ImageIdInPath,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
) -> Response[None]:
    service.delete_image(image_id, caller)
    count("ImagesDeleted", correlation_id=logger.get_correlation_id())
    return Response(status_code=HTTPStatus.NO_CONTENT.value)


app, handler = api_function(router)

"""PATCH /images/{image_id}: change an image's tags, description or visibility (the owner only)."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.parameters import ImageEdit
from image_api.resolver import ImageIdInPath, api_function, current_caller, new_router, route_answers
from image_api.use_cases import ImageService
from image_core.errors import Conflict, Forbidden, NotFound
from image_core.image import Image

router = new_router()


@router.patch(
    "/images/<image_id>",
    operation_id="edit_image",
    tags=["images"],
    summary="Change an image's tags, description or visibility (the owner only)",
    description=(
        "Only the fields given change; at least one must be. Every listing agrees at once: a "
        "removed tag no longer finds the image, an added one does, and a private image leaves "
        "the public listings. A `pending` image may be edited too, and keeps the edit when it "
        "becomes available; `rejected`, `failed` and `deleting` images may not."
    ),
    responses=route_answers(
        HTTPStatus.OK,
        "The image as edited.",
        {
            Forbidden: "Someone else's public image (one the caller can see).",
            NotFound: "No such image, or one the caller may not see.",
            Conflict: "The image is rejected, failed or being deleted, or kept changing under "
            "concurrent writes (retry).",
        },
    ),
)
def edit_image(
    image_id: ImageIdInPath,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    edit: Annotated[ImageEdit, Body(description="What to change.")],
) -> Image:
    return service.edit_image(image_id, caller, edit)


app, handler = api_function(router)

"""GET /images/{image_id}: one image's metadata, whatever its upload state."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import ImageIdInPath, api_function, current_caller, new_router, route_answers
from image_api.use_cases import ImageService
from image_core.errors import NotFound
from image_core.image import Image

router = new_router()


@router.get(
    "/images/<image_id>",
    operation_id="get_image",
    tags=["images"],
    summary="One image's metadata, in any state",
    description=(
        "The owner sees an image in every state (`pending`, `available`, `rejected`, `failed`); "
        "other signed-in users see it only once it is available and public. `duplicate_of` is "
        "shown to the owner only."
    ),
    responses=route_answers(
        HTTPStatus.OK,
        "The image.",
        {NotFound: "No such image, or one the caller may not see (someone else's private image)."},
    ),
)
def get_image(
    image_id: ImageIdInPath,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
) -> Image:
    return service.get_image(image_id, caller)


app, handler = api_function(router)

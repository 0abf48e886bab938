"""GET /images/{image_id}/download?variant=original|preview|thumbnail: a short-lived presigned GET."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import ImageIdInPath, api_function, current_caller, new_router, route_answers
from image_api.responses import DownloadLink
from image_api.use_cases import ImageService
from image_core.errors import Conflict, NotFound
from image_core.schema import Variant

router = new_router()


@router.get(
    "/images/<image_id>/download",
    operation_id="download_image",
    tags=["images"],
    summary="A short-lived presigned GET of the original or a variant",
    description=(
        "Whoever may see the image may download every variant of it: the owner, and for a "
        "public image any signed-in user. The variants are WebP, upright, without metadata."
    ),
    responses=route_answers(
        HTTPStatus.OK,
        "Where to GET the bytes, and for how many seconds.",
        {
            NotFound: "No such image, or one the caller may not see.",
            Conflict: "The image is not available (yet, or at all).",
        },
    ),
)
def download_image(
    image_id: ImageIdInPath,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    variant: Annotated[
        Variant,
        Query(description="`original` (the bytes as uploaded), `preview` (1280 px) or `thumbnail` (256 px)."),
    ] = Variant.ORIGINAL,
) -> DownloadLink:
    return service.download_link(image_id, caller, variant)


app, handler = api_function(router)

"""GET /images/{image_id}/download?variant=original|preview|thumbnail: a short-lived presigned GET."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import api_function, current_caller, new_router
from image_api.responses import DownloadLink
from image_api.use_cases import ImageService
from image_core.schema import Variant

router = new_router()


@router.get("/images/<image_id>/download")
def download_image(
    image_id: str,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    variant: Annotated[Variant, Query()] = Variant.ORIGINAL,
) -> DownloadLink:
    return service.download_link(image_id, caller, variant)


app, handler = api_function(router)

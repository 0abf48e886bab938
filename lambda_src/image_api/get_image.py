"""GET /images/{image_id}: one image's metadata, whatever its upload state."""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.resolver import api_function, current_caller, new_router
from image_api.use_cases import ImageService
from image_core.image import Image

router = new_router()


@router.get("/images/<image_id>")
def get_image(
    image_id: str,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
) -> Image:
    return service.get_image(image_id, caller)


app, handler = api_function(router)

"""GET /images: the caller's available images, or everyone's public ones, newest first, by tag and date."""

from __future__ import annotations

from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.listing import MAX_CURSOR_LENGTH, ListImagesQuery
from image_api.parameters import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DateOrDatetime, Tag
from image_api.resolver import api_function, current_caller, new_router
from image_api.responses import ImagePage
from image_api.use_cases import ImageService
from image_core.schema import Visibility

router = new_router()


@router.get("/images")
def list_images(
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    # Only "public" (everyone's public images); without it, the caller's own, of any visibility.
    visibility: Annotated[Literal[Visibility.PUBLIC] | None, Query()] = None,
    tag: Annotated[Tag | None, Query()] = None,
    created_from: Annotated[DateOrDatetime | None, Query(alias="from")] = None,
    created_to: Annotated[DateOrDatetime | None, Query(alias="to")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[str | None, Query(max_length=MAX_CURSOR_LENGTH)] = None,
) -> ImagePage:
    return service.list_images(
        ListImagesQuery(
            visibility=visibility,
            tag=tag,
            created_from=created_from,
            created_to=created_to,
            limit=limit,
            cursor=cursor,
        ),
        caller,
    )


app, handler = api_function(router)

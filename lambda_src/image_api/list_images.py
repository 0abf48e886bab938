"""GET /images: the caller's available images, or everyone's public ones, newest first, by tag and date."""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated, Literal

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.listing import MAX_CURSOR_LENGTH, ListImagesQuery
from image_api.parameters import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, DateOrDatetime, Tag
from image_api.resolver import api_function, current_caller, new_router, route_answers
from image_api.responses import ImagePage
from image_api.use_cases import ImageService
from image_core.schema import Visibility

router = new_router()


_BOUND = (
    "A date (`YYYY-MM-DD`: the whole UTC day) or an ISO-8601 datetime with a UTC offset "
    "(`2026-03-01T10:00:00+02:00`, `...Z`)."
)


@router.get(
    "/images",
    operation_id="list_images",
    tags=["images"],
    summary="List available images, newest first",
    description=(
        "The caller's own available images, or with `visibility=public` every user's public "
        "ones; narrowed by tag and by creation time; paged by `cursor`. Pending, rejected, "
        "failed and deleting images are never listed."
    ),
    responses=route_answers(
        HTTPStatus.OK, "One page of images, and the cursor of the next (null: the last)."
    ),
)
def list_images(
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    # Only "public" (everyone's public images); without it, the caller's own, of any visibility.
    visibility: Annotated[
        Literal[Visibility.PUBLIC] | None,
        Query(description="`public`: every user's public images instead of the caller's own."),
    ] = None,
    tag: Annotated[Tag | None, Query(description="Only images with this tag (case-insensitive).")] = None,
    created_from: Annotated[
        DateOrDatetime | None, Query(alias="from", description=f"Created at or after. {_BOUND}")
    ] = None,
    created_to: Annotated[
        DateOrDatetime | None, Query(alias="to", description=f"Created at or before. {_BOUND}")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Images per page.")] = DEFAULT_PAGE_SIZE,
    cursor: Annotated[
        str | None,
        Query(
            max_length=MAX_CURSOR_LENGTH,
            description="The `next_cursor` of the previous page, for the same query (refused for another).",
        ),
    ] = None,
    include: Annotated[
        Literal["thumbnail_url"] | None,
        Query(
            description=(
                "`thumbnail_url`: each item also carries `thumbnail_url`, a presigned GET of its "
                "thumbnail valid as long as a download link (`GET /images/{image_id}/download`), "
                "so that a page of thumbnails costs one call."
            ),
        ),
    ] = None,
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
        thumbnail_urls=include == "thumbnail_url",
    )


app, handler = api_function(router)

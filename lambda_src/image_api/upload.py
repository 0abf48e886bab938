"""POST /images/upload: register an image of the caller's and hand out a presigned POST for its bytes.

The parameters may come as query string parameters or as a JSON body (``tags`` then being
an array), each field in one of the two places.
"""

from __future__ import annotations

from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.parameters import CommaSeparatedTags, Description, UploadFields, UploadRequest
from image_api.resolver import api_function, current_caller, logger, new_router
from image_api.responses import UploadGrant
from image_api.use_cases import ImageService
from image_core.image import ImageContentType
from image_core.schema import Visibility
from image_core.telemetry import count

router = new_router()


@router.post("/images/upload", status_code=201)
def upload_image(
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    tags: Annotated[CommaSeparatedTags | None, Query()] = None,
    description: Annotated[Description | None, Query()] = None,
    content_type: Annotated[ImageContentType | None, Query()] = None,
    visibility: Annotated[Visibility | None, Query()] = None,
    body: Annotated[UploadFields | None, Body()] = None,
) -> UploadGrant:
    # A user_id in the query string was applied with the caller; one in the body is applied here.
    owner = caller.acting_as(body.user_id if body is not None else None).owner_of_upload()
    in_query = UploadFields(
        tags=tags, description=description, content_type=content_type, visibility=visibility
    )
    request_id = logger.get_correlation_id()
    grant = service.request_upload(
        UploadRequest.from_sources(query=in_query, body=body, owner=owner), request_id=request_id
    )
    count("UploadsRequested", correlation_id=request_id)
    return grant


app, handler = api_function(router)

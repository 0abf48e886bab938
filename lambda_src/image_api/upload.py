"""POST /images/upload: register an image of the caller's and hand out a presigned POST for its bytes.

The parameters may come as query string parameters or as a JSON body (``tags`` then being
an array), each field in one of the two places.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Annotated

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query

from image_api.dependencies import image_service
from image_api.identity import Caller
from image_api.parameters import CommaSeparatedTags, Description, UploadFields, UploadRequest
from image_api.resolver import api_function, current_caller, logger, new_router, route_answers
from image_api.responses import UploadGrant
from image_api.use_cases import ImageService
from image_core.image import ImageContentType
from image_core.schema import Visibility
from image_core.telemetry import count

router = new_router()


@router.post(
    "/images/upload",
    status_code=HTTPStatus.CREATED.value,
    operation_id="request_upload",
    tags=["images"],
    summary="Register an image and get a presigned POST for its bytes",
    description=(
        "Writes a `pending` record owned by the caller and answers a presigned POST whose policy "
        "pins the object key, the Content-Type and a size of 1 byte to the upload limit. Send "
        "every field as a plain string, the file last. Each parameter may be given in the query "
        "string or in a JSON body (`tags` then an array), in one of the two places. Processing "
        "then verifies the bytes: the image becomes `available` or `rejected`."
    ),
    responses=route_answers(HTTPStatus.CREATED, "The pending image's id and where to send its bytes."),
)
def upload_image(
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    tags: Annotated[
        CommaSeparatedTags | None,
        Query(
            description="Comma-separated; lower-cased; at most 20 distinct, each 1-64 of `a-z 0-9 - _`.",
            examples=["cat,holiday"],
        ),
    ] = None,
    description: Annotated[Description | None, Query(description="At most 1000 characters.")] = None,
    content_type: Annotated[
        ImageContentType | None,
        Query(description="The Content-Type the bytes will be posted with (default `image/jpeg`)."),
    ] = None,
    visibility: Annotated[
        Visibility | None,
        Query(description="`public`: any signed-in user may see it once available (default `private`)."),
    ] = None,
    body: Annotated[
        UploadFields | None,
        Body(description="The same fields as a JSON object, instead of the query string."),
    ] = None,
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

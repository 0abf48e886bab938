"""POST /images/upload: register an image and hand out a presigned POST for its bytes.

The parameters may come as query string parameters or as a JSON body (``tags`` then being
an array), each field in one of the two places.
"""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Body, Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_api.dependencies import image_service
from image_api.http import create_resolver, logger
from image_core.models import (
    CommaSeparatedTags,
    Description,
    ImageContentType,
    UploadFields,
    UploadGrant,
    UploadRequest,
    UserId,
)
from image_core.services import ImageService

app = create_resolver()


@app.post("/images/upload", status_code=201)
def upload_image(
    service: Annotated[ImageService, Depends(image_service)],
    user_id: Annotated[UserId | None, Query()] = None,
    tags: Annotated[CommaSeparatedTags | None, Query()] = None,
    description: Annotated[Description | None, Query()] = None,
    content_type: Annotated[ImageContentType | None, Query()] = None,
    body: Annotated[UploadFields | None, Body()] = None,
) -> UploadGrant:
    in_query = UploadFields(user_id=user_id, tags=tags, description=description, content_type=content_type)
    return service.request_upload(UploadRequest.from_sources(query=in_query, body=body))


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

"""GET /images/{image_id}/download?variant=original|preview|thumbnail: a short-lived presigned GET."""

from __future__ import annotations

from typing import Annotated, Any

from aws_lambda_powertools.event_handler import Depends
from aws_lambda_powertools.event_handler.openapi.params import Query
from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from image_api.dependencies import current_caller, image_service
from image_api.resolver import create_resolver, logger
from image_api.use_cases import ImageService
from image_core.identity import Caller
from image_core.models import DownloadLink
from image_core.schema import Variant

app = create_resolver()


@app.get("/images/<image_id>/download")
def download_image(
    image_id: str,
    service: Annotated[ImageService, Depends(image_service)],
    caller: Annotated[Caller, Depends(current_caller)],
    variant: Annotated[Variant, Query()] = Variant.ORIGINAL,
) -> DownloadLink:
    return service.download_link(image_id, caller, variant)


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)

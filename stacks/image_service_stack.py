"""The image service: composes the constructs and wires them together, nothing more."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aws_cdk import Aws, CfnOutput, Stack
from constructs import Construct

from image_core.environment import AuthMode
from stacks.gallery import WebGallery, gallery_config, storage_origins
from stacks.identity import CognitoIssuer
from stacks.image_api import AccessLogs, ImageApi
from stacks.image_bucket import ImageBucket
from stacks.image_processing import ImageProcessing
from stacks.metadata_table import MetadataTable, listing_environment
from stacks.monitoring import Monitored, ServiceMonitoring
from stacks.reconciliation import Reconciliation
from stacks.service_function import FunctionOptions
from stacks.settings import ALL_ORIGINS, FunctionSizing, StageSettings


class ImageServiceStack(Stack):
    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        gallery_site: Path | None = None,
        **kwargs: Any,
    ) -> None:
        """``gallery_site``: the built web gallery (``web/dist``), for the stages that deploy it."""
        kwargs.setdefault("description", f"Image upload and metadata service ({settings.name})")
        super().__init__(scope, construct_id, **kwargs)

        gallery: WebGallery | None = None
        cors_allowed_origins = settings.cors_allowed_origins
        if settings.web_gallery:
            if gallery_site is None:
                raise ValueError(f"stage {settings.name!r} deploys the web gallery: give its built site")
            gallery = WebGallery(self, "Gallery", site=gallery_site, removal_policy=settings.removal_policy)
            # The gallery calls the API and the bucket from its own origin: allowed by the stack
            # itself, next to the origins the stage names.
            if cors_allowed_origins != ALL_ORIGINS:
                cors_allowed_origins = (*cors_allowed_origins, gallery.origin)

        images = ImageBucket(
            self,
            "Images",
            cors_allowed_origins=cors_allowed_origins,
            removal_policy=settings.removal_policy,
            unverified_upload_expiration_days=settings.unverified_upload_expiration_days,
            access_logs=settings.bucket_access_logs,
        )
        metadata = MetadataTable(
            self,
            "Metadata",
            point_in_time_recovery=settings.point_in_time_recovery,
            removal_policy=settings.removal_policy,
        )
        auth = settings.authentication
        users = (
            CognitoIssuer(
                self,
                "Users",
                removal_policy=settings.removal_policy,
                gallery_url=gallery.url if gallery is not None else None,
                # Cognito domains are global per region: the account keeps stages and accounts apart.
                domain_prefix=f"image-gallery-{settings.name}-{Aws.ACCOUNT_ID}",
            )
            if auth.creates_user_pool
            else None
        )
        token_issuer = users.token_issuer if users is not None else auth.token_issuer
        # Every function that touches the table is told the same layout.
        table_layout = listing_environment(settings.listing_layout, auth.mode)
        api = ImageApi(
            self,
            "Api",
            table=metadata.table,
            bucket=images.bucket,
            function_options=_function_options(settings, settings.api_function),
            stage_name=settings.name,
            cors_allowed_origins=cors_allowed_origins,
            throttling_rate_limit=settings.api_throttling_rate_limit,
            throttling_burst_limit=settings.api_throttling_burst_limit,
            s3_public_endpoint=settings.s3_public_endpoint,
            upload_url_expires_seconds=settings.upload_url_expires_seconds,
            download_url_expires_seconds=settings.download_url_expires_seconds,
            max_upload_bytes=settings.max_upload_bytes,
            pending_grace_seconds=settings.pending_grace_seconds,
            auth_mode=auth.mode,
            token_issuer=token_issuer,
            listing_environment=table_layout,
            access_logs=AccessLogs(
                retention=settings.log_retention,
                removal_policy=settings.removal_policy,
                create_cloudwatch_role=settings.api_gateway_cloudwatch_role,
            )
            if settings.api_access_logs
            else None,
            web_acl=settings.web_acl,
        )
        processing = ImageProcessing(
            self,
            "Processing",
            table=metadata.table,
            bucket=images.bucket,
            function_options=_function_options(settings, settings.processing_function),
            failure_function_options=_function_options(settings, settings.failure_function),
            max_image_pixels=settings.max_image_pixels,
            retry_attempts=settings.processing_retry_attempts,
            max_event_age_seconds=settings.processing_max_event_age_seconds,
            processing_fault_tag=settings.processing_fault_tag,
            reserved_concurrency=settings.processing_reserved_concurrency,
            listing_environment=table_layout,
        )

        reconciliation = Reconciliation(
            self,
            "Reconciliation",
            table=metadata.table,
            bucket=images.bucket,
            function_options=_function_options(settings, settings.reconcile_function),
            min_age_seconds=settings.reconcile_min_age_seconds,
            every_hours=settings.reconcile_every_hours,
            listing_environment=table_layout,
        )
        monitoring = ServiceMonitoring(
            self,
            "Monitoring",
            monitored=Monitored(
                stage=api.stage,
                functions={
                    "Upload": api.upload.function,
                    "ListImages": api.list_images.function,
                    "GetImage": api.get_image.function,
                    "Download": api.download.function,
                    "DeleteImage": api.delete_image.function,
                    "Processing": processing.function,
                    "RecordFailure": processing.failures.function,
                    "Reconcile": reconciliation.function,
                },
                failure_destination=processing.failures.function,
                dead_letter_queue=processing.dead_letter_queue,
                table=metadata.table,
            ),
            thresholds=settings.alarm_thresholds,
            alarm_email=settings.alarm_email,
            removal_policy=settings.removal_policy,
        )

        if gallery is not None:
            # The API's origin from its id, not its URL: the URL names the stage, whose deployment
            # depends on the functions, whose CORS names the distribution (a cycle).
            gallery.allow_connections_to(
                f"https://{api.rest_api.rest_api_id}.execute-api.{Aws.REGION}.{Aws.URL_SUFFIX}"
            )
            # Presigned URLs name the bucket in the host; naming this bucket here would make the
            # bucket (whose CORS names the distribution) and the distribution depend on each other.
            gallery.allow_storage(*storage_origins(Aws.REGION, Aws.URL_SUFFIX))
            sign_in: dict[str, str]
            if users is not None and users.domain is not None:
                domain = users.domain.base_url()
                gallery.allow_connections_to(domain)
                sign_in = {"kind": "cognito", "domain": domain, "client_id": users.client.user_pool_client_id}
            elif token_issuer is not None and auth.gallery_client is not None:
                gallery.allow_connections_to(_origin_of(token_issuer.issuer))
                sign_in = {"kind": "oidc", "issuer": token_issuer.issuer, "client_id": auth.gallery_client}
            else:
                raise ValueError(
                    f"stage {settings.name!r}: the web gallery needs a token issuer to sign in with"
                )
            gallery.publish(
                gallery_config(api_url=api.rest_api.url, auth=sign_in), removal_policy=settings.removal_policy
            )
            CfnOutput(self, "GalleryUrl", value=gallery.url)

        # Names are CloudFormation's; tests and scripts find them here.
        CfnOutput(self, "ApiUrl", value=api.rest_api.url)
        CfnOutput(self, "ApiId", value=api.rest_api.rest_api_id)
        CfnOutput(self, "ApiStageName", value=api.stage.stage_name)
        CfnOutput(self, "BucketName", value=images.bucket.bucket_name)
        CfnOutput(self, "TableName", value=metadata.table.table_name)
        CfnOutput(self, "ProcessingFunctionName", value=processing.function.function_name)
        CfnOutput(self, "ReconcileFunctionName", value=reconciliation.function.function_name)
        CfnOutput(self, "AlarmTopicArn", value=monitoring.topic.topic_arn)
        CfnOutput(self, "DashboardName", value=monitoring.dashboard.dashboard_name)
        # What a client needs to sign in and call the API.
        CfnOutput(self, "AuthMode", value=auth.mode.value)
        if auth.mode is AuthMode.JWT and token_issuer is not None:
            CfnOutput(self, "TokenIssuer", value=token_issuer.issuer)
            CfnOutput(self, "TokenAudience", value=",".join(token_issuer.audiences))
        if users is not None:
            CfnOutput(self, "UserPoolId", value=users.user_pool.user_pool_id)
            CfnOutput(self, "UserPoolClientId", value=users.client.user_pool_client_id)
            CfnOutput(self, "Region", value=Aws.REGION)

        self.images = images
        self.metadata = metadata
        self.api = api
        self.processing = processing
        self.users = users
        self.reconciliation = reconciliation
        self.monitoring = monitoring
        self.gallery = gallery


def _origin_of(url: str) -> str:
    """``https://host[:port]`` of a URL: an OIDC issuer's, whose discovery and tokens the page fetches."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


def _function_options(settings: StageSettings, sizing: FunctionSizing) -> FunctionOptions:
    return FunctionOptions(
        architecture=settings.lambda_architecture,
        memory_mb=sizing.memory_mb,
        timeout_seconds=sizing.timeout_seconds,
        log_retention=settings.log_retention,
        log_level=settings.log_level,
        log_removal_policy=settings.removal_policy,
        tracing=settings.tracing,
    )

"""The bucket holding the uploaded images."""

from __future__ import annotations

from collections.abc import Sequence

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Validations
from aws_cdk import aws_s3 as s3
from constructs import Construct

from image_core import schema


class ImageBucket(Construct):
    """A private, TLS-only, encrypted bucket that browsers upload to with presigned requests.

    Exposes ``bucket``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        cors_allowed_origins: Sequence[str],
        removal_policy: RemovalPolicy,
        unverified_upload_expiration_days: int,
    ) -> None:
        super().__init__(scope, construct_id)
        self.bucket = s3.Bucket(
            self,
            "Bucket",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            # Browsers send the presigned upload (POST form or PUT) and fetch presigned downloads
            # straight from S3, so S3 itself must answer their CORS checks.
            cors=[
                s3.CorsRule(
                    allowed_methods=[
                        s3.HttpMethods.POST,
                        s3.HttpMethods.PUT,
                        s3.HttpMethods.GET,
                        s3.HttpMethods.HEAD,
                    ],
                    allowed_origins=list(cors_allowed_origins),
                    allowed_headers=["*"],
                    exposed_headers=["ETag"],
                    max_age=3000,
                )
            ],
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="abort-incomplete-multipart-uploads",
                    abort_incomplete_multipart_upload_after=Duration.days(1),
                ),
                # Uploads land under the incoming prefix, and processing deletes each once it
                # has decided about it (copying accepted bytes to the originals first). What is
                # still there after this long is bytes no processing finished with: S3 removes
                # them. Only this prefix: an original processing accepted is never expired.
                s3.LifecycleRule(
                    id="expire-unprocessed-uploads",
                    prefix=schema.INCOMING_PREFIX,
                    expiration=Duration.days(unverified_upload_expiration_days),
                ),
            ],
            removal_policy=removal_policy,
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="Object access is recorded by the API's own logs (who asked for which presigned "
                "URL); S3 server access logs would need a second bucket and are left for a later issue.",
            )
        )

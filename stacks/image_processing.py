"""The functions that finish an upload when its object lands in the bucket, and what catches failures."""

from __future__ import annotations

from collections.abc import Mapping

from aws_cdk import Acknowledgment, Duration, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from image_core import environment as env
from image_core.schema import INCOMING_PREFIX, ORIGINALS_PREFIX, VARIANTS_PREFIX
from stacks.python_function_code import python_code_asset
from stacks.service_function import FunctionOptions, ServiceFunction, nag_arn

INCOMING = f"{INCOMING_PREFIX}*"
ORIGINALS = f"{ORIGINALS_PREFIX}*"
VARIANTS = f"{VARIANTS_PREFIX}*"


class ImageProcessing(Construct):
    """Runs ``image_processing.handler.handler`` for every object created under the incoming prefix.

    An event that fails every attempt goes to the dead-letter queue (kept for inspection and
    redrive) and to the on-failure destination ``image_processing.failures.handler``, which
    marks the image failed and deletes its bytes. Destination rather than a queue consumer,
    so the queue keeps every failed event and the marking needs no polling; and rather than
    the processing function marking failure itself, which a timeout or crash would skip.

    Exposes ``processing`` and ``failures`` (``ServiceFunction``), ``function`` (processing's)
    and ``dead_letter_queue``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        function_options: FunctionOptions,
        failure_function_options: FunctionOptions,
        max_image_pixels: int,
        retry_attempts: int,
        max_event_age_seconds: int,
        processing_fault_tag: str | None,
        listing_environment: Mapping[str, str],
        reserved_concurrency: int | None = None,
    ) -> None:
        """``listing_environment``: the table's layout (``metadata_table.listing_environment``)."""
        super().__init__(scope, construct_id)
        self.dead_letter_queue = sqs.Queue(
            self,
            "DeadLetterQueue",
            # SQS's longest: time for someone to look at a failure and redrive it.
            retention_period=Duration.days(14),
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
        )
        # One asset for both functions: the processing package, with Pillow.
        code = python_code_asset(package="image_processing", architecture=function_options.architecture)
        environment = {
            env.TABLE_NAME: table.table_name,
            env.BUCKET_NAME: bucket.bucket_name,
            **listing_environment,
        }
        self.failures = ServiceFunction(
            self,
            "RecordFailure",
            handler="image_processing.failures.handler",
            code=code,
            environment=environment,
            options=failure_function_options,
            description="On-failure destination of processing: mark the image failed, delete its bytes",
            dead_letter_queue=self.dead_letter_queue,
        )
        self.failures.function.configure_async_invoke(
            retry_attempts=retry_attempts, max_event_age=Duration.seconds(max_event_age_seconds)
        )
        processing_environment = {**environment, env.MAX_IMAGE_PIXELS: str(max_image_pixels)}
        if processing_fault_tag:
            processing_environment[env.PROCESSING_FAULT_TAG] = processing_fault_tag
        self.processing = ServiceFunction(
            self,
            "Processing",
            handler="image_processing.handler.handler",
            code=code,
            environment=processing_environment,
            options=function_options,
            description="S3 ObjectCreated on the incoming prefix: verify the upload, record its facts",
            dead_letter_queue=self.dead_letter_queue,
            # A cap, so that a flood of uploads cannot take the account's whole concurrency.
            reserved_concurrent_executions=reserved_concurrency,
        )
        self.function = self.processing.function
        self.function.configure_async_invoke(
            retry_attempts=retry_attempts,
            max_event_age=Duration.seconds(max_event_age_seconds),
            # The whole destination record: the failed S3 event is in its requestPayload.
            on_failure=destinations.LambdaDestination(self.failures.function, response_only=False),
        )

        # UploadProcessor.process_upload: GetItem the record; GetObject the incoming upload;
        # PutObject its variants; CopyObject it to its original (s3:GetObject on the source,
        # s3:PutObject on the target); Query the duplicates index; one transaction that updates
        # the record and puts (available) or deletes (rejected) its tag items; DeleteObject for
        # the decided upload, for an orphan's objects and for replaced or superseded originals
        # and variants. Nothing else writes the originals; nothing reads the incoming prefix.
        objects = s3.BucketGrants.from_bucket(bucket)
        table.grant(
            self.function,
            "dynamodb:GetItem",
            "dynamodb:Query",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        )
        objects.actions_on_object_keys(self.function, INCOMING, "s3:GetObject", "s3:DeleteObject")
        objects.actions_on_object_keys(self.function, ORIGINALS, "s3:PutObject", "s3:DeleteObject")
        objects.actions_on_object_keys(self.function, VARIANTS, "s3:PutObject", "s3:DeleteObject")
        # UploadProcessor.record_failure: GetItem; HeadObject and GetObject of the incoming
        # upload; the transaction (UpdateItem, DeleteItem of tag items); DeleteObject of the
        # upload, its originals and its variants.
        table.grant(self.failures.function, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem")
        objects.actions_on_object_keys(self.failures.function, INCOMING, "s3:GetObject", "s3:DeleteObject")
        objects.actions_on_object_keys(self.failures.function, ORIGINALS, "s3:DeleteObject")
        objects.actions_on_object_keys(self.failures.function, VARIANTS, "s3:DeleteObject")
        for function in (self.function, self.failures.function):
            # S3 answers HeadObject for a missing key with 404 only to a caller allowed to list
            # the bucket (403 otherwise), and listing finds every original and variant of an
            # orphan. The bucket ARN itself, no wildcard.
            iam.Grant.add_to_principal(
                grantee=function, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
            )
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            # Only uploads: originals and variants, which processing writes, notify nobody.
            s3.NotificationKeyFilter(prefix=INCOMING_PREFIX),
        )

        self._acknowledge_findings(table, bucket)

    def _acknowledge_findings(self, table: dynamodb.ITable, bucket: s3.IBucket) -> None:
        # The notification is configured by a stack-wide custom resource function that CDK adds.
        for child in Stack.of(self).node.children:
            if child.node.id.startswith("BucketNotificationsHandler"):
                Validations.of(child).acknowledge(
                    Acknowledgment(
                        id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                        "AWSLambdaBasicExecutionRole]",
                        reason="CDK's bucket-notification custom resource only writes its own logs "
                        "with the AWS managed basic execution role.",
                    )
                )
        Validations.of(self.dead_letter_queue).acknowledge(
            Acknowledgment(
                id="AwsSolutions-SQS3",
                reason="This queue is the dead-letter queue of the processing functions; a failed "
                "event stays here for inspection and redrive rather than moving on again.",
            )
        )
        for operation in (self.processing, self.failures):
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(table)}/index/*",
                "Table.grant names the table's indexes with /index/*; only the duplicates Query uses one.",
            )
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{INCOMING}",
                "Uploads are keyed by image id; the grant is limited to the incoming prefix.",
            )
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{ORIGINALS}",
                "Originals are keyed by image id and revision; the grant is limited to the originals prefix.",
            )
            operation.acknowledge_wildcard_resource(
                f"{nag_arn(bucket)}/{VARIANTS}",
                "Variants are keyed by image id and revision; the grant is limited to the variants prefix.",
            )
        # The destination grant names the failure function with and without a version qualifier.
        self.processing.acknowledge_wildcard_resource(
            f"{nag_arn(self.failures.function)}:*",
            "Lambda destinations may invoke any version of the failure function, which has no others.",
        )

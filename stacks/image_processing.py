"""The function that finishes an upload when its object lands in the bucket."""

from __future__ import annotations

from aws_cdk import Acknowledgment, Stack, Validations
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_notifications as s3n
from constructs import Construct

from image_core.schema import ORIGINALS_PREFIX
from stacks.python_function_code import python_code_asset
from stacks.service_function import FunctionOptions, ServiceFunction, nag_arn


class ImageProcessing(Construct):
    """Runs ``image_processing.handler.handler`` for every object created under the originals prefix.

    Exposes ``processing`` (the ``ServiceFunction``) and ``function``.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        table: dynamodb.ITable,
        bucket: s3.IBucket,
        function_options: FunctionOptions,
    ) -> None:
        super().__init__(scope, construct_id)
        self.processing = ServiceFunction(
            self,
            "Processing",
            handler="image_processing.handler.handler",
            code=python_code_asset(package="image_processing", architecture=function_options.architecture),
            environment={"TABLE_NAME": table.table_name, "BUCKET_NAME": bucket.bucket_name},
            options=function_options,
            description="S3 ObjectCreated on the originals prefix: make the image available",
        )
        self.function = self.processing.function

        # ImageService.record_uploaded_object: GetItem the image item; HeadObject (s3:GetObject)
        # for its size; one transaction that updates it and puts its tag items (UpdateItem,
        # PutItem); DeleteObject for an object without a live image item.
        table.grant(self.function, "dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem")
        s3.BucketGrants.from_bucket(bucket).actions_on_object_keys(
            self.function, f"{ORIGINALS_PREFIX}*", "s3:GetObject", "s3:DeleteObject"
        )
        # S3 answers HeadObject for a missing key with 404 only to a caller allowed to list the
        # bucket (403 otherwise), and the service tells an object deleted since its event by
        # that 404. The bucket ARN itself, no wildcard.
        iam.Grant.add_to_principal(
            grantee=self.function, actions=["s3:ListBucket"], resource_arns=[bucket.bucket_arn]
        )
        bucket.add_event_notification(
            s3.EventType.OBJECT_CREATED,
            s3n.LambdaDestination(self.function),
            s3.NotificationKeyFilter(prefix=ORIGINALS_PREFIX),
        )

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

        self.processing.acknowledge_wildcard_resource(
            f"{nag_arn(table)}/index/*",
            "Table.grant names the table's listing indexes with /index/*; this function reads none.",
        )
        self.processing.acknowledge_wildcard_resource(
            f"{nag_arn(bucket)}/{ORIGINALS_PREFIX}*",
            "Objects are keyed by image id; the grant is limited to the originals prefix.",
        )

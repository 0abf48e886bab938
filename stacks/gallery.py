"""The web gallery in AWS: the built site in a private bucket, served by CloudFront.

Only in the stages deployed to AWS (the local cloud has no CloudFront; there ``make up`` serves
the same site with ``localcloud/gallery.py``). The bucket is private: CloudFront reads it with
origin access control, and nothing else can. Viewers are sent to HTTPS, and every answer carries
the security headers below. Paths the site does not have answer its ``index.html`` (a single
page app). ``config.json`` (the API's URL and how to sign in) is written beside ``index.html``
at deploy time, from the stack's own values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aws_cdk import Acknowledgment, Duration, RemovalPolicy, Stack, Validations
from aws_cdk import aws_cloudfront as cloudfront
from aws_cdk import aws_cloudfront_origins as origins
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3deploy
from constructs import Construct

from stacks.service_function import nag_arn

CONFIG_FILE = "config.json"
# Two years, as HSTS preload lists ask.
HSTS_MAX_AGE = Duration.days(730)


def content_security_policy(connect_origins: Sequence[str], image_origins: Sequence[str]) -> str:
    """Scripts and styles from the site only; data from the API, the sign-in service and the bucket."""
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; "
        f"img-src {' '.join(["'self'", 'data:', 'blob:', *image_origins])}; "
        f"connect-src {' '.join(["'self'", *connect_origins])}; "
        "frame-ancestors 'none'; base-uri 'self'; form-action 'self'; object-src 'none'"
    )


class WebGallery(Construct):
    """The site's bucket and its CloudFront distribution; ``publish`` deploys the site.

    Exposes ``bucket``, ``distribution``, ``origin`` (``https://<domain>``, what CORS allows) and
    ``url`` (the same with a trailing slash: the sign-in callback).
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        site: Path,
        removal_policy: RemovalPolicy,
    ) -> None:
        super().__init__(scope, construct_id)
        if not (site / "index.html").is_file():
            raise ValueError(f"{site} holds no built site (index.html): run `make gallery-build`")
        self._site = site
        self._connect_origins: list[str] = []
        self._image_origins: list[str] = []
        self.bucket = s3.Bucket(
            self,
            "Site",
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            removal_policy=removal_policy,
            # The site is rebuilt from the repository on every deploy: nothing in it is data.
            auto_delete_objects=removal_policy == RemovalPolicy.DESTROY,
        )
        self.headers = cloudfront.ResponseHeadersPolicy(
            self,
            "SecurityHeaders",
            comment="The web gallery: CSP, HSTS, no framing, no sniffing, strict referrer",
            security_headers_behavior=cloudfront.ResponseSecurityHeadersBehavior(
                strict_transport_security=cloudfront.ResponseHeadersStrictTransportSecurity(
                    access_control_max_age=HSTS_MAX_AGE, include_subdomains=True, override=True
                ),
                frame_options=cloudfront.ResponseHeadersFrameOptions(
                    frame_option=cloudfront.HeadersFrameOption.DENY, override=True
                ),
                content_type_options=cloudfront.ResponseHeadersContentTypeOptions(override=True),
                referrer_policy=cloudfront.ResponseHeadersReferrerPolicy(
                    referrer_policy=cloudfront.HeadersReferrerPolicy.STRICT_ORIGIN_WHEN_CROSS_ORIGIN,
                    override=True,
                ),
            ),
        )
        origin = origins.S3BucketOrigin.with_origin_access_control(
            self.bucket, origin_access_levels=[cloudfront.AccessLevel.READ]
        )
        # index.html and config.json name what changes between deploys: never cached, so a
        # deploy shows at once. The hashed assets they name may be cached for good.
        uncached = cloudfront.BehaviorOptions(
            origin=origin,
            viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
            cache_policy=cloudfront.CachePolicy.CACHING_DISABLED,
            response_headers_policy=self.headers,
            allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
        )
        self.distribution = cloudfront.Distribution(
            self,
            "Distribution",
            comment="Image service web gallery",
            default_root_object="index.html",
            default_behavior=cloudfront.BehaviorOptions(
                origin=origin,
                viewer_protocol_policy=cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
                cache_policy=cloudfront.CachePolicy.CACHING_OPTIMIZED,
                response_headers_policy=self.headers,
                allowed_methods=cloudfront.AllowedMethods.ALLOW_GET_HEAD,
                compress=True,
            ),
            additional_behaviors={f"/{CONFIG_FILE}": uncached, "/index.html": uncached},
            # A single page app: any path it does not have is the app's (S3 answers 403 for a
            # missing key when CloudFront may not list the bucket).
            error_responses=[
                cloudfront.ErrorResponse(
                    http_status=status,
                    response_http_status=200,
                    response_page_path="/index.html",
                    ttl=Duration.seconds(0),
                )
                for status in (403, 404)
            ],
            http_version=cloudfront.HttpVersion.HTTP2_AND_3,
            price_class=cloudfront.PriceClass.PRICE_CLASS_100,
        )
        self.origin = f"https://{self.distribution.distribution_domain_name}"
        self.url = f"{self.origin}/"
        Validations.of(self.bucket).acknowledge(
            Acknowledgment(
                id="AwsSolutions-S1",
                reason="The site's bucket holds the built gallery only, read by CloudFront alone; "
                "its contents come from the repository at each deploy.",
            )
        )
        Validations.of(self.distribution).acknowledge(
            Acknowledgment(
                id="AwsSolutions-CFR1",
                reason="The gallery is for the service's users wherever they are; the API decides "
                "who may do what.",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR2",
                reason="A static site of public files; the API it calls has the stage's WAF (prod).",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR3",
                reason="Static files only: who signed in and what they did is in the API's logs.",
            ),
            Acknowledgment(
                id="AwsSolutions-CFR4",
                reason="The distribution's own cloudfront.net domain and certificate, whose TLS "
                "policy CloudFront sets; a custom domain with its own certificate (TLSv1.2_2021) "
                "is a deployment's choice.",
            ),
        )

    def allow_connections_to(self, *origins_: str) -> None:
        """Origins the page may call (``fetch``, ``XMLHttpRequest``): the API, the sign-in service."""
        self._connect_origins.extend(origins_)

    def allow_storage(self, *origins_: str) -> None:
        """Origins the page may upload to and show images from: the image bucket's presigned URLs."""
        self._connect_origins.extend(origins_)
        self._image_origins.extend(origins_)

    def publish(
        self, config: Mapping[str, Any], *, removal_policy: RemovalPolicy
    ) -> s3deploy.BucketDeployment:
        """Deploys the built site and ``config.json`` (its values may be the stack's tokens), and
        sets the content security policy to the origins allowed so far.

        The policy is set here, not with the other headers: the origins it allows are known only
        once the stack has built the API, which is built after the distribution whose domain its
        CORS names.
        """
        policy = self.headers.node.default_child
        assert isinstance(policy, cloudfront.CfnResponseHeadersPolicy)
        policy.add_property_override(
            "ResponseHeadersPolicyConfig.SecurityHeadersConfig.ContentSecurityPolicy",
            {
                "ContentSecurityPolicy": content_security_policy(self._connect_origins, self._image_origins),
                "Override": True,
            },
        )
        deployment = s3deploy.BucketDeployment(
            self,
            "Deploy",
            destination_bucket=self.bucket,
            sources=[
                s3deploy.Source.asset(str(self._site)),
                s3deploy.Source.json_data(CONFIG_FILE, dict(config)),
            ],
            # The root path is cached like any other; the files that change are invalidated.
            distribution=self.distribution,
            distribution_paths=["/", "/index.html", f"/{CONFIG_FILE}"],
            memory_limit=256,
            retain_on_delete=removal_policy == RemovalPolicy.RETAIN,
        )
        self._acknowledge_deployment_function()
        return deployment

    def _acknowledge_deployment_function(self) -> None:
        # BucketDeployment copies with a stack-wide function CDK adds and grants itself.
        site = f"{nag_arn(self.bucket)}/*"
        for child in Stack.of(self).node.children:
            if not child.node.id.startswith("Custom::CDKBucketDeployment"):
                continue
            Validations.of(child).acknowledge(
                Acknowledgment(
                    id="AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/"
                    "AWSLambdaBasicExecutionRole]",
                    reason="CDK's site-deployment function writes its own logs with the AWS managed "
                    "basic execution role; its data grants are CDK's, below.",
                ),
                Acknowledgment(
                    id="AwsSolutions-L1",
                    reason="CDK chooses and maintains the runtime of its BucketDeployment function.",
                ),
                *(
                    Acknowledgment(
                        id=f"AwsSolutions-IAM5[{finding}]",
                        reason="CDK's site deployment reads the site's asset from the bootstrap asset "
                        "bucket and replaces the site bucket's objects (grantRead / grantReadWrite "
                        "on exactly those two buckets).",
                    )
                    for finding in (
                        "Action::s3:GetBucket*",
                        "Action::s3:GetObject*",
                        "Action::s3:List*",
                        "Action::s3:Abort*",
                        "Action::s3:DeleteObject*",
                        "Resource::arn:<AWS::Partition>:s3:::cdk-hnb659fds-assets-<AWS::AccountId>-<AWS::Region>/*",
                        f"Resource::{site}",
                    )
                ),
                Acknowledgment(
                    id="AwsSolutions-IAM5[Resource::*]",
                    reason="CloudFront's CreateInvalidation and GetInvalidation, which the deployment "
                    "calls on the gallery's distribution after copying, take no resource-level scope "
                    "in CDK's grant.",
                ),
            )


def gallery_config(*, api_url: str, auth: Mapping[str, str]) -> dict[str, Any]:
    """``config.json``: what the site reads at start (``web/src/config.ts``)."""
    return {"api_url": api_url, "auth": dict(auth)}


def storage_origins(region: str, url_suffix: str) -> Sequence[str]:
    """Where presigned URLs of the image bucket point: virtual-hosted S3, global or regional."""
    return (f"https://*.s3.{url_suffix}", f"https://*.s3.{region}.{url_suffix}")

"""The bench stack: the floor every route is measured against, deployed on the same local cloud.

    cdklocal deploy --app "python -m bench.app" BenchFloor      # make bench-floor does this

A REST API (Lambda proxy integration, like the image service's) with two bare Python
functions: ``/echo`` (standard library only) and ``/boto3`` (imports boto3 and nothing else).
No authentication, no data: what a request to them costs is the local cloud's own path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_apigateway as apigateway
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

STACK_NAME = "BenchFloor"
FUNCTION_CODE = Path(__file__).resolve().parent / "echo_function"


class BenchFloorStack(cdk.Stack):
    def __init__(self, scope: Construct, construct_id: str, **kwargs: Any) -> None:
        super().__init__(scope, construct_id, **kwargs)
        code = lambda_.Code.from_asset(str(FUNCTION_CODE))
        api = apigateway.RestApi(self, "Api", deploy_options=apigateway.StageOptions(stage_name="bench"))
        for name, handler, path in (
            ("Echo", "index.handler", "echo"),
            ("Boto3Only", "boto3_only.handler", "boto3"),
        ):
            function = lambda_.Function(
                self,
                name,
                runtime=lambda_.Runtime.PYTHON_3_13,
                handler=handler,
                code=code,
                memory_size=256,
                timeout=cdk.Duration.seconds(10),
            )
            api.root.add_resource(path).add_method("GET", apigateway.LambdaIntegration(function))
            cdk.CfnOutput(self, f"{name}FunctionName", value=function.function_name)
        cdk.CfnOutput(self, "ApiId", value=api.rest_api_id)


def main() -> None:
    app = cdk.App()
    BenchFloorStack(app, STACK_NAME)
    app.synth()


if __name__ == "__main__":
    main()

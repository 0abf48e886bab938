"""Gateway responses as API Gateway renders them: templates and headers.

LocalStack's REST API runtime picks the status code of a configured gateway response
(unknown route, throttling, bad request, ...) but ignores its ``responseTemplates`` and
``responseParameters``: the body is always ``{"message": ...}``. An API that reshapes
those answers into its own error envelope would look different locally than in AWS.
This start-up hook renders the configured template (VTL, with ``$context.error.*`` as in
AWS, where ``messageString`` is the message as a quoted JSON string) and sets the static
headers the response parameters name.
"""

from __future__ import annotations

import json
from typing import Any

from localstack.runtime import hooks
from localstack.utils.patch import patch

from .gateway_response_shapes import static_headers, template_for


@hooks.on_infra_start()
def render_gateway_response_templates() -> None:
    from localstack.services.apigateway.next_gen.execute_api.gateway_response import (
        get_gateway_response_or_default,
    )
    from localstack.services.apigateway.next_gen.execute_api.handlers.gateway_exception import (
        GatewayExceptionHandler,
    )
    from localstack.utils.aws.templating import VtlTemplate

    @patch(GatewayExceptionHandler.create_exception_response)
    def create_exception_response(original: Any, self: Any, exception: Any, context: Any) -> Any:
        response = original(self, exception, context)
        gateway_response = get_gateway_response_or_default(
            exception.type, context.deployment.rest_api.gateway_responses
        )
        chosen = template_for(gateway_response.get("responseTemplates"))
        if chosen is not None:
            content_type, template = chosen
            variables = {
                "context": {
                    **context.context_variables,
                    "error": {
                        "message": exception.message,
                        "messageString": json.dumps(exception.message),
                        "responseType": str(exception.type),
                        "validationErrorString": "",
                    },
                }
            }
            response.set_data(VtlTemplate().render_vtl(template, variables=variables))
            response.headers["Content-Type"] = content_type
        for name, value in static_headers(gateway_response.get("responseParameters")).items():
            response.headers[name] = value
        return response

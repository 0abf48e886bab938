"""Entry point: ``LAMBDA_RUNTIME_EXECUTOR=host`` selects the host-process executor."""

from localstack.services.lambda_.invocation.plugins import RuntimeExecutorPlugin


class HostRuntimeExecutorPlugin(RuntimeExecutorPlugin):
    name = "host"

    def load(self, *_args: object, **_kwargs: object) -> type:
        from .executor import HostRuntimeExecutor

        return HostRuntimeExecutor

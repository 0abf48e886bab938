"""Asynchronous invocations as Lambda makes them: one attempt at a time, counted, then handed over.

LocalStack 2026.3.0's event poller (``services/lambda_/invocation/event_manager.py``) invokes
the function through a boto3 client with botocore's defaults: an attempt that runs 60 s or
longer was sent again while it still ran, every copy counted its own retries, nothing reached
the on-failure destination or the dead-letter queue, and the copies filled the poller's pool
so that other events starved (see event_invoke.py). This start-up hook gives each poller a
client that waits for the function's timeout and never resends, and a pool that takes an
event from the queue only when it can start it; and an event the function never ran (its
reserved concurrency is 0) reaches the dead-letter queue as well as the on-failure destination.
The poller's own logic (retry counting, maximum event age, destinations, dead-letter queue) is
LocalStack's, otherwise unchanged.
"""

from __future__ import annotations

from typing import Any

from localstack.runtime import hooks
from localstack.utils.patch import patch

from .event_invoke import FreeWorkerPool, dead_letter_answer, event_invoke_client_config


@hooks.on_infra_start()
def invoke_async_events_once() -> None:
    from localstack.aws.connect import connect_to
    from localstack.services.lambda_.invocation.event_manager import Poller

    @patch(Poller.__init__)
    def init_with_lambda_rules(original: Any, self: Any, version_manager: Any, event_queue_url: str) -> None:
        original(self, version_manager, event_queue_url)
        function = version_manager.function_version
        # A new configuration makes a new version (and a new poller): its timeout is fixed here.
        self.lambda_client = connect_to(
            aws_access_key_id=function.id.account,
            region_name=function.id.region,
            config=event_invoke_client_config(int(function.config.timeout)),
        ).lambda_
        self.invoker_pool.shutdown(wait=False)  # LocalStack's, unused: it has no threads yet
        self.invoker_pool = FreeWorkerPool(
            thread_name_prefix=f"lambda-invoker-{function.id.function_name}:{function.id.qualifier}"
        )

    @patch(Poller.process_dead_letter_queue)
    def dead_letter_even_when_never_run(
        original: Any, self: Any, sqs_invocation: Any, response_payload: dict[str, Any] | None
    ) -> None:
        # LocalStack passes None for an event that never ran, then fails reading its error message.
        original(self, sqs_invocation, dead_letter_answer(response_payload))

"""Time to live for the moto-backed DynamoDB: expired items are deleted.

moto stores a table's TTL setting but never deletes anything. AWS deletes an expired
item within days (and reads still return it until then), so code must treat expired
items as gone anyway; but a local cloud that never deletes them lets a table grow
without bound and hides cleanup bugs. This sweeper runs in the background every
``LOCALCLOUD_TTL_SWEEP_SECONDS`` (default 10; 0 turns it off): for each table with TTL
enabled it deletes the items whose TTL attribute is a number of epoch seconds in the past.
It works through the DynamoDB API, like any client, with a conditional delete, so an item
whose TTL was pushed into the future in the meantime survives.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator

from localstack.runtime import hooks

from .ttl_sweep import sweep_table

LOG = logging.getLogger(__name__)
SWEEP_SECONDS = float(os.environ.get("LOCALCLOUD_TTL_SWEEP_SECONDS", "10"))


def _accounts_and_regions() -> Iterator[tuple[str, str]]:
    from moto.dynamodb.models import dynamodb_backends

    for account, regions in list(dynamodb_backends.items()):
        for region, backend in list(regions.items()):
            if backend.tables:
                yield account, region


def sweep_all() -> None:
    from localstack.aws.connect import connect_to

    now = int(time.time())
    for account, region in _accounts_and_regions():
        client = connect_to(region_name=region, aws_access_key_id=account).dynamodb
        for table in client.list_tables()["TableNames"]:
            if deleted := sweep_table(client, table, now):
                LOG.info("TTL sweep deleted %d expired item(s) from %s", deleted, table)


def _loop(stop: threading.Event) -> None:
    while not stop.wait(SWEEP_SECONDS):
        try:
            sweep_all()
        except Exception:  # a failed sweep must not end the loop; the next one retries
            LOG.exception("TTL sweep failed")


_stop = threading.Event()


@hooks.on_infra_ready()
def start_ttl_sweeper() -> None:
    if SWEEP_SECONDS > 0:
        LOG.info("DynamoDB TTL sweeper: every %.0f s", SWEEP_SECONDS)
        threading.Thread(target=_loop, args=(_stop,), name="localcloud-ttl-sweeper", daemon=True).start()


@hooks.on_infra_shutdown()
def stop_ttl_sweeper() -> None:
    _stop.set()

"""`make reconcile`: run the deployed reconciliation function on the local cloud and print its report.

    python -m localcloud.reconcile .localcloud/outputs.json [--repair] [--min-age SECONDS]

The function is the one AWS stages run on a schedule (``lambda_src/image_reconcile``); this
invokes it once and waits for its answer. Without ``--repair`` it only reports.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from localcloud.outputs import stack_outputs


def reconcile(function_name: str, *, repair: bool, min_age: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {"repair": repair}
    if min_age is not None:
        event["min_age_seconds"] = min_age
    # A run may take up to the function's timeout (15 min); wait for it rather than retry it.
    client = boto3.client("lambda", config=Config(read_timeout=960, retries={"max_attempts": 0}))
    response = client.invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
    answer: dict[str, Any] = json.loads(response["Payload"].read() or b"null")
    if "FunctionError" in response:
        raise SystemExit(f"reconciliation failed: {json.dumps(answer)}")
    return answer


def summary(report: dict[str, Any]) -> str:
    lines = [
        f"{'repaired' if report['repair'] else 'reported (make reconcile REPAIR=1 repairs)'}: "
        f"{report['found']} finding(s), nothing younger than {report['min_age_seconds']} s touched"
        + ("" if report["complete"] else "; stopped early, run again to carry on")
    ]
    for name, check in report["checks"].items():
        lines.append(
            f"  {name:<24} examined {check['examined']:>6}  found {check['found']:>4}  "
            f"repaired {check['repaired']:>4}  not repaired {check['not_repaired']:>4}"
        )
        lines += [f"    {finding['image_id']}: {finding['detail']}" for finding in check["findings"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("outputs", type=Path)
    parser.add_argument("--repair", action="store_true", help="repair what is found, not only report it")
    parser.add_argument(
        "--min-age", type=int, help="touch nothing younger (seconds); never below the stage's"
    )
    parser.add_argument("--json", action="store_true", help="print the whole report as JSON")
    args = parser.parse_args(argv)
    outputs = stack_outputs(args.outputs)
    report = reconcile(outputs["ReconcileFunctionName"], repair=args.repair, min_age=args.min_age)
    print(json.dumps(report, indent=2) if args.json else summary(report))


if __name__ == "__main__":
    main(sys.argv[1:])

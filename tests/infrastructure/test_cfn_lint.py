"""cfn-lint on every stage's synthesized template: CloudFormation's own rules, beyond cdk-nag's.

cdk-nag judges security practice; cfn-lint checks that the template is one CloudFormation
accepts (resource properties, types, references, limits) before any deploy tries it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from aws_cdk.assertions import Template
from cfnlint.api import ManualArgs, lint

# Each rule ignored here with its reason; nothing else is.
IGNORED_RULES = {
    # "Dependency already enforced by a GetAtt": CDK adds an explicit DependsOn from each
    # function to its role's policy and role, which is redundant but harmless, and it is CDK's
    # own output, not ours to change.
    "W3005",
}


def findings(template: Template) -> list[str]:
    matches: list[Any] = lint(
        json.dumps(template.to_json()),
        config=ManualArgs(regions=["us-east-1", "eu-west-1"], ignore_checks=sorted(IGNORED_RULES)),
    )
    return [f"{match.rule.id} {'/'.join(map(str, match.path))}: {match.message}" for match in matches]


@pytest.mark.parametrize("stage", ["local", "dev", "prod"])
def test_template_of_every_stage_passes_cfn_lint(stage: str, request: pytest.FixtureRequest) -> None:
    template: Template = request.getfixturevalue(f"{stage}_template")

    assert findings(template) == []


def test_cfn_lint_does_find_a_broken_template(local_template: Template) -> None:
    # The check above can fail: the same template with a function given an unknown runtime
    # is reported.
    broken = local_template.to_json()
    function = next(r for r in broken["Resources"].values() if r["Type"] == "AWS::Lambda::Function")
    function["Properties"]["Runtime"] = "python2.1"

    assert any(line.startswith("E") for line in findings(Template.from_json(broken)))

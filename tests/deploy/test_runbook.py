"""Every alert's `runbook_url` lands on a section of docs/runbook.md."""

from __future__ import annotations

import re

import yaml

from schemas.alert import RuleName
from tests.deploy.conftest import DEPLOY

RUNBOOK = DEPLOY.parent / "docs/runbook.md"


def anchors() -> set[str]:
    """GitHub's heading anchors: lower case, punctuation but `-` and `_` dropped, spaces as `-`."""
    headings = re.findall(r"^#+ (.+)$", RUNBOOK.read_text(), flags=re.MULTILINE)
    return {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-") for h in headings}


def test_every_abuse_rule_has_a_section() -> None:
    assert {rule.value for rule in RuleName} <= anchors()


def test_every_service_alert_links_to_its_section() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus/rules/livewatch-alerts.yml").read_text())
    for group in rules["groups"]:
        for rule in group["rules"]:
            url = rule["annotations"]["runbook_url"]
            assert url == f"docs/runbook.md#{rule['alert'].lower()}"
            assert url.split("#")[1] in anchors(), rule["alert"]

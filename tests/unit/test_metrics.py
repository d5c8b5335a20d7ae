"""The metrics module and the example dashboard agree."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.parser import text_string_to_metric_families

import versahub.hub.handlers  # noqa: F401  (registers versahub_public_copies)
from versahub.launch import metrics

EXAMPLES = Path(__file__).resolve().parents[2] / "docs" / "examples"


def test_counting_helpers_move_the_counters() -> None:
    def sample(name: str, **labels: str) -> float:
        return REGISTRY.get_sample_value(name, labels) or 0.0

    before = sample("versahub_images_total", source="registry")
    metrics.count_image({"phase": "ready", "cache": "hit", "where": "registry"})
    metrics.count_image({"phase": "ready", "cache": "miss"})
    metrics.count_image(None)
    assert sample("versahub_images_total", source="registry") == before + 1
    denied = sample("versahub_policy_decisions_total", result="denied")
    metrics.count_decision(0.003, allowed=False, unavailable=False,
                           deny=["volume-forbidden"], warn=["internet-egress"])  # fmt: skip
    assert sample("versahub_policy_decisions_total", result="denied") == denied + 1
    assert sample("versahub_policy_findings_total", rule="volume-forbidden", kind="deny") >= 1
    text = generate_latest(REGISTRY).decode()
    names = {f.name for f in text_string_to_metric_families(text)}
    assert {"versahub_launches", "versahub_policy_decisions", "versahub_images",
            "versahub_policy_decision_seconds", "versahub_policy_findings"} <= names  # fmt: skip


def test_the_dashboard_uses_only_metrics_that_exist() -> None:
    dash = json.loads((EXAMPLES / "grafana-dashboard.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    used = {m for e in exprs for m in re.findall(r"\b(versahub_[a-z_]+)", e)}
    known = {
        "versahub_launches_total", "versahub_policy_decisions_total",
        "versahub_policy_decision_seconds_bucket", "versahub_policy_findings_total",
        "versahub_images_total", "versahub_public_copies",
    }  # fmt: skip
    assert used and used <= known, used - known
    scrape = yaml.safe_load((EXAMPLES / "prometheus-scrape.yml").read_text())
    assert scrape["scrape_configs"][0]["metrics_path"] == "/hub/metrics"

"""The decisions page's pure parts (versahub/web/audit.py) and its chart: the query checks,
what a row shows of a record (never a path or a message), the store read, the templates'
main blocks and the chart's escaped label."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

import jinja2
import pytest

from versahub.errors import InputError
from versahub.policy import decision_store
from versahub.policy.records import DecisionRecord, iso
from versahub.policy.rule_docs import RuleDoc
from versahub.web.audit import (
    ALLOWED,
    Query,
    count_rows,
    decision_rows,
    decisions_chart,
    menu,
    page_query,
    read_decisions,
)
from versahub.web.config import TEMPLATES_DIR
from versahub.web.usage_chart import line_chart

DAYS = ["2026-11-28", "2026-11-29"]
SECRET_PATH = "/srv/projects/secret-project"
SECRET_MESSAGE = "Volume secret-project is writable by carol"


def test_line_chart_label_is_escaped_and_defaults_to_usage() -> None:
    series = {"<g>": {"2026-11-29": 2.0}}
    usage = line_chart(series, DAYS, unit="CPU seconds")
    assert 'aria-label="Usage per group (CPU seconds)"' in usage
    assert usage == line_chart(series, DAYS, unit="CPU seconds", label="Usage per group",
                               legend_width=150)  # fmt: skip
    hostile = line_chart(series, DAYS, unit='"u"', label='<script>"x"</script>&')
    assert 'aria-label="&lt;script&gt;&quot;x&quot;&lt;/script&gt;&amp; (&quot;u&quot;)"' in hostile
    assert "<script" not in hostile and "<g>" not in hostile


def test_decisions_chart_has_room_for_every_rule() -> None:
    counts = {f"rule-{n}": {"2026-11-29": n} for n in range(30)}
    svg = decisions_chart(counts, DAYS)
    assert 'aria-label="Decisions per rule and day (decisions)"' in svg
    assert 'height="460"' in svg and svg.count("<polyline") == 30


def args(**values: str) -> Any:
    return lambda name: values.get(name, "")


def test_page_query_defaults_and_values() -> None:
    assert page_query(args()) == Query(days=7)
    query = page_query(args(days="30", rule="storage-read-write", outcome="warned",
                            user="alice", group="physics", repo="github.com/x"))  # fmt: skip
    assert query == Query(30, "storage-read-write", "warned", "alice", "physics", "github.com/x")
    filters = query.filters(_dt.date(2026, 11, 29))
    assert filters.since == "2026-10-31T00:00:00.000000Z" and filters.until is None
    assert (filters.rule, filters.outcome, filters.user, filters.group, filters.repo) == (
        "storage-read-write", "warned", "alice", "physics", "github.com/x")  # fmt: skip
    assert Query().filters(_dt.date(2026, 11, 29)).rule is None


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"days": "x"}, "days"), ({"days": "0"}, "days"), ({"days": "367"}, "days"),
        ({"rule": "bad rule"}, "rule"), ({"rule": "(allowed)"}, "rule"),
        ({"outcome": "maybe"}, "outcome"), ({"user": "a" * 201}, "user"),
        ({"group": "a\nb"}, "group"), ({"repo": "\x1b[31m"}, "repo"),
    ],
)  # fmt: skip
def test_page_query_names_the_bad_argument(values: dict[str, str], field: str) -> None:
    with pytest.raises(InputError) as err:
        page_query(args(**values))
    assert err.value.field == field


def record(n: int, when: _dt.datetime, **kw: Any) -> DecisionRecord:
    base: dict[str, Any] = {
        "decision_id": f"d-{n}", "time": iso(when), "user": "alice", "groups": ("physics",),
        "repo": "https://github.com/x/y", "outcome": "allowed", "deny": (), "warn": (),
        "input": {"spec": {"mounts": [{"volume": "proj", "path": SECRET_PATH}]}},
        "result": {"warn": [{"id": "storage-read-write", "message": SECRET_MESSAGE}]},
    }  # fmt: skip
    return DecisionRecord(**{**base, **kw})


DOCS = {
    "storage-read-write": RuleDoc("storage-read-write", "Read-write storage", "", "medium", "",
                                  "versahub/spawn/storage.rego", 19, "warn"),
}  # fmt: skip


def test_rows_show_only_what_a_record_may_show() -> None:
    moment = _dt.datetime(2026, 11, 29, 16, 22, 25, 123456, tzinfo=_dt.UTC)
    found = [record(1, moment, outcome="denied", deny=("volume-forbidden",),
                    warn=("storage-read-write",))]  # fmt: skip
    (row,) = decision_rows(found, DOCS)
    assert row == {
        "time": "2026-11-29 16:22:25Z", "user": "alice", "groups": ["physics"],
        "repo": "https://github.com/x/y", "outcome": "denied",
        "findings": [{"id": "volume-forbidden", "kind": "deny", "link": False},
                     {"id": "storage-read-write", "kind": "warn", "link": True}],
    }  # fmt: skip
    assert SECRET_PATH not in repr(row) and SECRET_MESSAGE not in repr(row)
    # without rule docs (opa failed), every valid id links: the rule page says why
    assert all(f["link"] for f in decision_rows(found, {})[0]["findings"])


def test_count_rows_most_frequent_first() -> None:
    counts = {ALLOWED: {"2026-11-28": 1, "2026-11-29": 1}, "storage-read-write": {"d": 5},
              "b": {"d": 2}, "a": {"d": 2}}  # fmt: skip
    assert count_rows(counts, DOCS) == [
        {"id": "storage-read-write", "title": "Read-write storage", "total": 5, "link": True},
        {"id": ALLOWED, "title": "Allowed without a finding", "total": 2, "link": False},
        {"id": "a", "title": "", "total": 2, "link": False},
        {"id": "b", "title": "", "total": 2, "link": False},
    ]
    assert menu(["b", "a"], "") == ["a", "b"] and menu(["b"], "z") == ["b", "z"]


def test_read_decisions_from_the_store(tmp_path: Path) -> None:
    assert read_decisions(tmp_path, Query(), _dt.date.today()) is None  # no store yet
    now = _dt.datetime(2026, 11, 29, 12, 0, tzinfo=_dt.UTC)
    db = decision_store.connect(tmp_path, create=True)
    decision_store.add(db, [
        record(1, now - _dt.timedelta(days=10), user="old"),
        record(2, now - _dt.timedelta(minutes=5), user="bob", groups=("chem",)),
        record(3, now, outcome="warned", warn=("storage-read-write",)),
    ], keep_days=30, now=now)  # fmt: skip
    db.close()
    today = now.date()
    found = read_decisions(tmp_path, Query(), today)
    assert found is not None and found.total == 2
    assert [r.decision_id for r in found.recent] == ["d-3", "d-2"]
    assert found.counts == {"storage-read-write": {today.isoformat(): 1},
                            ALLOWED: {today.isoformat(): 1}}  # fmt: skip
    assert found.menus == {"users": ["alice", "bob"], "groups": ["chem", "physics"],
                           "rules": ["storage-read-write"]}  # fmt: skip
    only = read_decisions(tmp_path, Query(user="bob"), today)
    assert only is not None and only.total == 1 and only.menus["users"] == ["alice", "bob"]
    assert read_decisions(tmp_path, Query(days=30), today).total == 3  # type: ignore[union-attr]


def render_main(name: str, **values: Any) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES_DIR), autoescape=True)
    template = env.get_template(name)
    return "".join(template.blocks["main"](template.new_context({"base_url": "/hub/", **values})))


def page(**values: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "query": Query(), "since": "2026-11-23", "store": True, "total": 0, "rows": [],
        "limit": 200, "counts": [], "docs_error": "", "chart": "<svg></svg>",
        "outcomes": ("allowed", "warned", "denied"), "periods": [1, 7, 30],
        "users": [], "groups": [], "rules": [],
    }  # fmt: skip
    return {**base, **values}


def test_decisions_page_escapes_and_links() -> None:
    moment = _dt.datetime(2026, 11, 29, 16, 22, 25, tzinfo=_dt.UTC)
    hostile = "<b>eve</b>"
    found = [record(1, moment, user=hostile, repo="https://x/<i>", outcome="warned",
                    warn=("storage-read-write",))]  # fmt: skip
    html = render_main("decisions.html", **page(
        total=1, rows=decision_rows(found, DOCS), users=[hostile],
        counts=count_rows({"storage-read-write": {"2026-11-29": 1}}, DOCS),
        query=Query(user=hostile, repo='"><script>'),
    ))  # fmt: skip
    for ident in ("vh-decisions-filter", "vh-decisions-chart", "vh-decisions-counts",
                  "vh-decisions-table"):  # fmt: skip
        assert f'id="{ident}"' in html
    assert "vh-decisions-empty" not in html
    assert "<b>eve" not in html and "&lt;b&gt;eve&lt;/b&gt;" in html and "<script>" not in html
    assert "<i>" not in html
    assert 'href="/hub/versahub/decisions/rules/storage-read-write"' in html
    assert "Read-write storage" in html and SECRET_PATH not in html
    assert '<option value="&lt;b&gt;eve&lt;/b&gt;" selected>' in html


@pytest.mark.parametrize(
    ("store", "text"),
    [(False, "No decision has been recorded"), (True, "No decision matches these filters")],
)
def test_decisions_page_empty_states(store: bool, text: str) -> None:
    html = render_main("decisions.html", **page(store=store, docs_error="cannot read <x>"))
    assert 'id="vh-decisions-empty"' in html and text in html
    assert "vh-decisions-table" not in html and "vh-decisions-chart" not in html
    assert "cannot read &lt;x&gt;" in html


def test_rule_page() -> None:
    rule = RuleDoc("storage-read-write", "Read-write <storage>", "Writes.", "medium", "Use ro.",
                   "versahub/spawn/storage.rego", 19, "warn")  # fmt: skip
    html = render_main("decision-rule.html", rule=rule, filtered="rule=storage-read-write")
    assert "Read-write &lt;storage&gt;" in html and "versahub/spawn/storage.rego:19" in html
    assert 'href="/hub/versahub/decisions?rule=storage-read-write"' in html
    assert "See docs/policies.md (Shipped rules)" in html
    assert "medium" in html and "Use ro." in html and "Writes." in html


def test_routes() -> None:
    import importlib
    import re

    from versahub.site import site_from_mapping
    from versahub.web.config import web_settings

    handlers = {
        h[0]: h[1] for h in web_settings(site_from_mapping({}))["JupyterHub"]["extra_handlers"]
    }
    assert handlers["/versahub/decisions"] == "versahub.web.audit.DecisionsPageHandler"
    (rule_route,) = [p for p, h in handlers.items() if h == "versahub.web.audit.RuleDocHandler"]
    assert re.fullmatch(rule_route, "/versahub/decisions/rules/x.y:z-1")
    for bad in ("/versahub/decisions/rules/..", "/versahub/decisions/rules/a%2Fb",
                "/versahub/decisions/rules/-a", "/versahub/decisions/rules/a/b"):  # fmt: skip
        assert not re.fullmatch(rule_route, bad)
    for name in set(handlers.values()) & {"versahub.web.audit.DecisionsPageHandler",
                                          "versahub.web.audit.RuleDocHandler"}:  # fmt: skip
        module, _, cls = name.rpartition(".")
        assert hasattr(importlib.import_module(module), cls)

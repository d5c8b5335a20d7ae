"""The catalogue: public parts only, popularity by distinct users, the exchange document
and its schema, import and export between two sites."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from versahub.cli import main
from versahub.errors import InputError
from versahub.site.catalogue import exchange_schema, popular_entries, public_spec, read_exchange
from versahub.site.catalogue_store import (
    MAX_USERS,
    catalogue_entries,
    read_imports,
    read_ledger,
    record_launch,
    user_hash,
)
from versahub.site.config import load_site
from versahub.spec import parse_spec

REPO = "https://github.com/binder-examples/requirements"
PRIVATE = {
    "repo": REPO, "ref": "main", "urlpath": "lab/tree/index.ipynb", "server_name": "mine",
    "mounts": [{"volume": "home", "path": "/home/jovyan/data", "mode": "ro"}],
    "collaborators": ["bob"], "credentials": True, "public_readonly": True,
}  # fmt: skip


def site_file(tmp_path: Path, name: str = "a", **doc: Any) -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    path = folder / "site.yaml"
    base = {
        "site": {"name": f"Hub {name.upper()}"},
        "state_dir": "state",
        "hub": {"url": f"https://{name}.example.org"},
        "catalogue": [{"id": "pandas", "title": "Pandas", "description": "Data frames",
                       "tags": ["python", "data"], "spec": {"repo": REPO, "ref": "v1"}}],
        "popular": {"min_users": 2},
    }  # fmt: skip
    path.write_text(yaml.safe_dump({**base, **doc}))
    return path


def test_public_part_drops_everything_personal() -> None:
    public = public_spec(parse_spec(PRIVATE))
    doc = public.config_dict()
    assert (doc["repo"], doc["ref"], doc["urlpath"]) == (REPO, "main", "lab/tree/index.ipynb")
    assert doc["mounts"] == [] and doc["collaborators"] == [] and not doc["credentials"]
    assert not doc["public_readonly"] and doc["server_name"] == ""


def test_launches_are_counted_by_distinct_users_without_names(tmp_path: Path) -> None:
    state = tmp_path / "state"
    spec = parse_spec(PRIVATE)
    for user in ("alice", "alice", "bob"):
        record_launch(state, spec, user)
    (record,) = read_ledger(state).values()
    assert record["launches"] == 3 and record["users"] == sorted([user_hash("alice"),
                                                                   user_hash("bob")])  # fmt: skip
    text = (state / "catalogue" / "launches.json").read_text()
    for secret in ("alice", "bob", "/home/jovyan/data", 'collaborators": ["bob'):
        assert secret not in text
    assert (state / "catalogue" / "launches.json").stat().st_mode & 0o777 == 0o600
    entries = popular_entries(read_ledger(state), min_users=2, max_entries=10, origin="x")
    assert [e["popularity"]["users"] for e in entries] == [2]
    assert entries[0]["spec"] == {
        k: public_spec(spec).config_dict()[k]
        for k in ("repo", "ref", "urlpath", "internet", "resources")
    }
    assert popular_entries(read_ledger(state), min_users=3, max_entries=10, origin="x") == []
    assert popular_entries(read_ledger(state), min_users=1, max_entries=0, origin="x") == []


def test_specs_with_the_same_public_part_are_one_entry(tmp_path: Path) -> None:
    state = tmp_path / "state"
    record_launch(state, parse_spec(PRIVATE), "alice")
    record_launch(state, parse_spec({"repo": REPO, "ref": "main",
                                     "urlpath": "lab/tree/index.ipynb"}), "carol")  # fmt: skip
    assert len(read_ledger(state)) == 2  # two spec_ids
    (entry,) = popular_entries(read_ledger(state), min_users=2, max_entries=10, origin="x")
    assert entry["popularity"] == {
        "users": 2,
        "launches": 2,
        "last_launch": entry["popularity"]["last_launch"],
    }


def test_users_per_entry_are_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("versahub.site.catalogue_store.MAX_USERS", 3)
    state = tmp_path / "state"
    for n in range(6):
        record_launch(state, parse_spec({"repo": REPO}), f"u{n}")
    (record,) = read_ledger(state).values()
    assert len(record["users"]) == 3 and record["launches"] == 6
    assert MAX_USERS == 1000


def test_export_validates_and_round_trips_into_another_site(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = site_file(tmp_path, "a"), site_file(tmp_path, "b", catalogue=[])
    state_a = load_site(a).state_dir
    record_launch(state_a, parse_spec(PRIVATE), "alice")
    record_launch(state_a, parse_spec(PRIVATE), "bob")
    assert main(["catalogue", "export", "--site", str(a)]) == 0
    doc = json.loads(capsys.readouterr().out)
    import jsonschema

    jsonschema.Draft202012Validator(exchange_schema()).validate(doc)
    assert [e["kind"] for e in doc["entries"]] == ["curated", "popular"]
    assert "bob" not in json.dumps(doc) and "/home/jovyan/data" not in json.dumps(doc)
    exported = tmp_path / "a.json"
    exported.write_text(json.dumps(doc))
    assert main(["catalogue", "import", str(exported), "--site", str(b)]) == 0
    assert "imported 2 entries from https://a.example.org" in capsys.readouterr().out
    shown = catalogue_entries(load_site(b))
    assert [(e["kind"], e["origin"]) for e in shown] == [
        ("imported", "https://a.example.org"),
        ("imported", "https://a.example.org"),
    ]
    # B's own export carries no import (each hub exports its own environments)
    assert main(["catalogue", "export", "--site", str(b)]) == 0
    assert json.loads(capsys.readouterr().out)["entries"] == []


def bad(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(doc))
    target = doc
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    target[keys[-1]] = value
    return doc


GOOD = {
    "version": 1, "hub": {"name": "A", "url": "https://a.example.org"},
    "exported_at": "2026-11-29T12:00:00Z",
    "entries": [{"id": "pandas", "title": "Pandas", "kind": "curated", "provider": "gh",
                 "spec_id": "0123456789abcdef", "spec": {"repo": REPO, "ref": "v1"}}],
}  # fmt: skip


@pytest.mark.parametrize(
    ("doc", "field"),
    [
        (bad(GOOD, "version", 2), "catalogue: version"),
        (bad(GOOD, "entries.0.spec.mounts", [{"volume": "home"}]), "catalogue: entries.0.spec"),
        (bad(GOOD, "entries.0.spec.repo", "file:///etc/passwd"), "catalogue: entries.0.spec.repo"),
        (bad(GOOD, "entries.0.id", "../x"), "catalogue: entries.0.id"),
        (bad(GOOD, "hub.url", "javascript:alert(1)"), "catalogue: hub.url"),
        (bad(GOOD, "entries.0.spec.ref", "main..x"), "catalogue: entries.0.spec.ref"),
        ([], "catalogue: (top level)"),
    ],
)
def test_bad_exchange_documents_are_refused(doc: Any, field: str) -> None:
    with pytest.raises(InputError) as err:
        read_exchange(doc)
    assert err.value.field == field


def test_a_refused_import_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    b = site_file(tmp_path, "b")
    source = tmp_path / "evil.json"
    source.write_text(json.dumps(bad(GOOD, "entries.0.spec.repo", "ext::sh -c id")))
    assert main(["catalogue", "import", str(source), "--site", str(b)]) == 2
    assert "evil.json: entries.0.spec.repo" in capsys.readouterr().err
    assert read_imports(load_site(b).state_dir) == {}
    source.write_text("{not json")
    assert main(["catalogue", "import", str(source), "--site", str(b)]) == 2
    assert "FILE: is not a valid JSON document" in capsys.readouterr().err

"""``spec_errors``: every field's error at once, with the same rules as ``parse_spec``."""

from __future__ import annotations

from typing import Any

import pytest

from versahub.errors import InputError
from versahub.spec import parse_spec, spec_errors

REPO = "https://github.com/binder-examples/requirements"


@pytest.mark.parametrize(
    ("data", "fields"),
    [
        pytest.param({"repo": REPO}, [], id="valid"),
        pytest.param({"ref": "main"}, ["repo"], id="repo-missing"),
        pytest.param(
            {
                "repo": "x::y",
                "ref": "--upload-pack=x",
                "urlpath": "../..",
                "internet": "maybe",
                "resources": {"memory": "lots"},
            },
            ["repo", "ref", "urlpath", "internet", "resources.memory"],
            id="five-bad-fields",
        ),
        pytest.param(
            {
                "repo": REPO,
                "collaborators": ["a", "a"],
                "mounts": [{"volume": "home", "path": "/etc"}],
            },
            ["mounts[0].path", "collaborators[1]"],
            id="mounts-and-collaborators",
        ),
        pytest.param(
            {"repo": REPO, "mounts": [{"volume": "a", "path": "/x"}, {"volume": "b", "path": 5}]},
            ["mounts[0].volume"],
            id="one-error-per-field",
        ),
        pytest.param({"repo": REPO, "image": "evil"}, ["image"], id="unknown-key"),
        pytest.param(
            {"repo": REPO, "resources": {"memory": "lots", "cpu": "many", "idle_timeout": "1h"}},
            ["resources.memory", "resources.cpu"],
            id="each-resource-limit",
        ),
    ],
)
def test_every_field_error_at_once(data: dict[str, Any], fields: list[str]) -> None:
    errors = spec_errors(data, owner="alice", volumes=["home"])
    assert [e.field for e in errors] == fields
    if fields:  # the first is exactly parse_spec's error: one set of rules
        with pytest.raises(InputError) as first:
            parse_spec(data, owner="alice", volumes=["home"])
        assert str(first.value) == str(errors[0])


def test_not_a_mapping() -> None:
    assert [e.field for e in spec_errors(["repo"])] == ["spec"]  # type: ignore[arg-type]

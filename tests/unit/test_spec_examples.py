"""Every example under ``examples/specs`` parses and round-trips through a launch URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from versahub.spec.files import read_spec_file
from versahub.spec.model import parse_spec
from versahub.urls import launch_url, parse_launch_url

EXAMPLES = sorted((Path(__file__).parents[2] / "examples" / "specs").glob("*.yaml"))


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_parses(path: Path) -> None:
    spec = parse_spec(read_spec_file(str(path)))
    assert parse_launch_url(launch_url(spec, "https://hub.example.org")) == spec

"""The one strict YAML reader: duplicate keys, aliases and deep nesting are refused."""

from __future__ import annotations

import pytest

from versahub.util.yamlfile import AliasRefused, DuplicateKey, TooDeep, load_yaml


def test_plain_documents_load() -> None:
    assert load_yaml("a: 1\nb: {c: [1, 2]}\n") == {"a": 1, "b": {"c": [1, 2]}}


@pytest.mark.parametrize(
    ("text", "key", "line"),
    [
        pytest.param("internet: false\nx: 1\ninternet: true\n", "internet", 3, id="top"),
        pytest.param("opa:\n  timeout: 1\n  timeout: 2\n", "timeout", 3, id="nested"),
        pytest.param('{"a": 1, "a": 2}', "a", 1, id="json-flow"),
    ],
)
def test_a_key_given_twice_is_refused(text: str, key: str, line: int) -> None:
    with pytest.raises(DuplicateKey) as err:
        load_yaml(text)
    assert (err.value.key, err.value.line) == (key, line)


def test_aliases_are_refused_before_expansion() -> None:
    bomb = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n"
    with pytest.raises(AliasRefused) as err:
        load_yaml(bomb)
    assert err.value.line == 2


def test_deep_nesting_is_too_deep_not_a_recursion_error() -> None:
    with pytest.raises(TooDeep):
        load_yaml("a: " + "[" * 5000 + "]" * 5000)

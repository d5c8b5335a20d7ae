"""The risk dialog's configuration in plain words (versahub.web.summary)."""

from __future__ import annotations

from versahub.spec import parse_spec
from versahub.web.summary import describe_spec

VOLUMES = {"home": {"description": "Your persistent home folder."}}


def items(spec: dict, volumes: dict | None = None) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for item in describe_spec(
        parse_spec(spec).to_dict(), volumes if volumes is not None else VOLUMES
    ):
        out.setdefault(item["key"], []).append(item)
    return out


def test_every_aspect_is_described_once_in_order() -> None:
    result = describe_spec(parse_spec({"repo": "gh:org/repo"}).to_dict())
    keys = [i["key"] for i in result]
    assert keys == [
        "image", "urlpath", "server_name", "mounts", "internet", "credentials",
        "collaborators", "public_readonly", "resources",
    ]  # fmt: skip
    assert all(set(i) == {"key", "label", "text", "risk"} for i in result)


def test_defaults_in_plain_words() -> None:
    got = items({"repo": "gh:binder-examples/requirements"})
    image = got["image"][0]
    assert image["risk"] is True
    assert "https://github.com/binder-examples/requirements" in image["text"]
    assert "its default branch" in image["text"] and "github.com" in image["text"]
    assert got["urlpath"][0]["text"] == "the server's default interface"
    assert "random name" in got["server_name"][0]["text"]
    assert got["mounts"][0]["text"].startswith("no storage volume")
    assert got["internet"][0]["risk"] is True  # internet is on by default
    assert got["credentials"][0] == {
        "key": "credentials", "label": "Credentials", "text": "not passed in", "risk": False,
    }  # fmt: skip
    assert got["collaborators"][0]["text"] == "none: only you can open it"
    assert got["public_readonly"][0]["text"] == "none"
    assert got["resources"][0]["text"] == "the site's defaults"


def test_risky_configuration() -> None:
    got = items(
        {
            "repo": "https://gitlab.example.org/team/env.git",
            "ref": "v1.2",
            "urlpath": "lab/tree/a.ipynb",
            "server_name": "analysis",
            "mounts": [
                {"volume": "home", "path": "/home/jovyan/work", "mode": "rw"},
                {"volume": "data", "path": "/home/jovyan/data", "mode": "ro"},
            ],
            "collaborators": ["bob", "group:ds101-teachers", "carol"],
            "public_readonly": True,
            "credentials": True,
            "internet": True,
            "resources": {"memory": "2G", "cpu": 1, "max_duration": "8h"},
        }
    )
    assert "“v1.2”" in got["image"][0]["text"] and "gitlab.example.org" in got["image"][0]["text"]
    assert got["urlpath"][0]["text"] == "lab/tree/a.ipynb inside the server"
    assert "“analysis”" in got["server_name"][0]["text"]
    data, home = got["mounts"]  # sorted by path
    assert "read-only" in data["text"] and data["risk"] is True  # readable + internet
    assert "(Your persistent home folder)" in home["text"] and "read-write" in home["text"]
    assert home["risk"] is True
    assert got["credentials"][0]["risk"] and "act as you" in got["credentials"][0]["text"]
    assert got["collaborators"][0]["text"] == (
        "bob, carol and everyone in group ds101-teachers can open this server and act as you "
        "inside it"
    )
    assert got["public_readonly"][0]["risk"] is True
    assert got["resources"][0]["text"] == (
        "2 GiB of memory, 1 CPU, stopped after 8h; the site's defaults for the rest"
    )


def test_read_only_volume_without_internet_is_not_a_risk() -> None:
    got = items(
        {
            "repo": "gh:org/repo",
            "internet": False,
            "mounts": [{"volume": "home", "path": "/home/jovyan/work"}],
        }
    )
    assert got["mounts"][0]["risk"] is False
    assert got["internet"][0] == {
        "key": "internet", "label": "Internet",
        "text": "off: the server cannot reach the internet", "risk": False,
    }  # fmt: skip


def test_hostile_text_is_kept_verbatim_never_markup() -> None:
    # The summary is plain text: the browser writes it with textContent.
    spec = parse_spec({"repo": "gh:org/repo", "urlpath": "lab/x"}).to_dict()
    spec["urlpath"] = "<script>alert(1)</script>"
    spec["collaborators"] = ["<b>x</b>"]
    result = {i["key"]: i["text"] for i in describe_spec(spec)}
    assert result["urlpath"] == "<script>alert(1)</script> inside the server"
    assert result["collaborators"].startswith("<b>x</b> can open")


def test_all_resources_and_fractional_cpu() -> None:
    got = items(
        {
            "repo": "gh:org/repo",
            "resources": {"memory": "512M", "cpu": 0.5, "max_duration": "1d", "idle_timeout": "1h"},
        }
    )
    assert got["resources"][0]["text"] == (
        "512 MiB of memory, 0.5 CPUs, stopped after 1d, or after 1h without activity"
    )

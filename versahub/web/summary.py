"""The configuration of a server in plain words, for the risk dialog (pure).

``describe_spec`` turns a canonical spec document (``ServerSpec.to_dict()``) into a list of
short statements — what software from where, which volumes read-only or read-write,
internet, credentials, collaborators, public access, resources — each marked ``risk`` when
it widens what a malicious image or collaborator could do. The browser shows them with
``textContent``; nothing here produces HTML, so no value from a link can become markup.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from versahub.spec.names import GROUP_PREFIX


def _item(key: str, label: str, text: str, risk: bool = False) -> dict[str, Any]:
    return {"key": key, "label": label, "text": text, "risk": risk}


def _who(collaborators: list[str]) -> str:
    names = []
    for entry in collaborators:
        if entry.startswith(GROUP_PREFIX):
            names.append(f"everyone in group {entry[len(GROUP_PREFIX) :]}")
        else:
            names.append(entry)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _cpu(cpu: float) -> str:
    text = f"{cpu:g}"
    return f"{text} CPU" if cpu == 1 else f"{text} CPUs"


def _memory(memory: str) -> str:
    units = {"K": "KiB", "M": "MiB", "G": "GiB", "T": "TiB"}
    if memory and memory[-1] in units and memory[:-1].replace(".", "", 1).isdigit():
        return f"{memory[:-1]} {units[memory[-1]]}"
    return memory


def describe_spec(
    spec: Mapping[str, Any], volumes: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Return ``[{"key", "label", "text", "risk"}]`` describing ``spec`` in plain words."""
    volumes = volumes or {}
    items: list[dict[str, Any]] = []
    source = spec.get("source") or {}
    host = source.get("host") or "an unknown host"
    ref = spec.get("ref") or "HEAD"
    ref_text = "its default branch" if ref == "HEAD" else f"“{ref}”"
    items.append(
        _item(
            "image",
            "Software",
            f"An image built by repo2docker from {spec.get('repo')} ({ref_text}), "
            f"downloaded from {host}. Its code runs inside the server with your access.",
            risk=True,
        )
    )
    urlpath = spec.get("urlpath") or ""
    items.append(
        _item(
            "urlpath",
            "Opens",
            f"{urlpath} inside the server" if urlpath else "the server's default interface",
        )
    )
    name = spec.get("server_name") or ""
    items.append(
        _item(
            "server_name",
            "Server",
            f"your server named “{name}” (kept between sessions)"
            if name
            else "a new server with a random name (kept between sessions)",
        )
    )
    mounts = list(spec.get("mounts") or [])
    if not mounts:
        items.append(_item("mounts", "Storage", "no storage volume: nothing of yours is mounted"))
    for mount in mounts:
        volume = str(mount.get("volume"))
        about = (volumes.get(volume) or {}).get("description") or ""
        about = f" ({about.rstrip('.')})" if about else ""
        if mount.get("mode") == "rw":
            text = (
                f"volume “{volume}”{about} at {mount.get('path')}, read-write: "
                "the server can change and delete these files"
            )
            items.append(_item("mounts", "Storage", text, risk=True))
        else:
            text = (
                f"volume “{volume}”{about} at {mount.get('path')}, read-only: "
                "the server can read, but not change, these files"
            )
            items.append(_item("mounts", "Storage", text, risk=bool(spec.get("internet"))))
    if spec.get("internet"):
        items.append(
            _item(
                "internet",
                "Internet",
                "on: the server can connect to any website, and send out whatever it can read",
                risk=True,
            )
        )
    else:
        items.append(_item("internet", "Internet", "off: the server cannot reach the internet"))
    if spec.get("credentials"):
        items.append(
            _item(
                "credentials",
                "Credentials",
                "passed in: the server can act as you in every service that uses your login",
                risk=True,
            )
        )
    else:
        items.append(_item("credentials", "Credentials", "not passed in"))
    collaborators = list(spec.get("collaborators") or [])
    if collaborators:
        items.append(
            _item(
                "collaborators",
                "Collaborators",
                f"{_who(collaborators)} can open this server and act as you inside it",
                risk=True,
            )
        )
    else:
        items.append(_item("collaborators", "Collaborators", "none: only you can open it"))
    if spec.get("public_readonly"):
        items.append(
            _item(
                "public_readonly",
                "Public access",
                "anyone with the link can open a temporary read-only copy",
                risk=True,
            )
        )
    else:
        items.append(_item("public_readonly", "Public access", "none"))
    resources = spec.get("resources") or {}
    parts = []
    if resources.get("memory"):
        parts.append(f"{_memory(str(resources['memory']))} of memory")
    if resources.get("cpu") is not None:
        parts.append(_cpu(float(resources["cpu"])))
    if resources.get("max_duration"):
        parts.append(f"stopped after {resources['max_duration']}")
    if resources.get("idle_timeout"):
        parts.append(f"or after {resources['idle_timeout']} without activity")
    text = ", ".join(parts) if parts else "the site's defaults"
    if parts and len(parts) < 4:
        text += "; the site's defaults for the rest"
    items.append(_item("resources", "Resources", text))
    return items

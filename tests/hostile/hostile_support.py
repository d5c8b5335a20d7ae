"""Assertions every hostile case makes, and the hub-side bookkeeping behind them.

* :func:`assert_clear_message` — one line, bounded, names the field, carries no raw control
  or bidi character of what was sent;
* :func:`assert_no_secret` — a response holds none of the site's secrets (hub tokens, the
  demo password, the cookie secret) nor the raw control characters sent;
* :class:`HubState` — before/after snapshot of one user on a hub under test: their server
  entries (with the stored ``user_options``), this hub's containers for them, and the
  trust store file; :meth:`HubState.assert_unchanged` says what a refusal left behind.

The hub classes come from ``tests/integration`` (``site_support``, ``spawn_support``), as
the integration tests import them. Test helper, not product code.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

INTEGRATION = Path(__file__).resolve().parent.parent / "integration"
if str(INTEGRATION) not in sys.path:
    sys.path.insert(0, str(INTEGRATION))

# Characters a response must never carry raw when the request did: C0/C1 controls (other
# than the line breaks JSON and HTML use themselves), DEL, bidi and invisible formatting.
_DANGEROUS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)
MAX_MESSAGE = 600
OWNER_LABEL = "org.versahub.owner"
SERVER_LABEL = "org.versahub.server"


def dangerous_chars(text: str) -> set[str]:
    """The control, bidi and invisible characters in ``text``."""
    return set(_DANGEROUS.findall(text))


def sent_text(value: Any) -> str:
    """Every string (keys too) inside a request value, joined: what a reply may echo."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict):
        return "".join(sent_text(k) + sent_text(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return "".join(sent_text(v) for v in value)
    return ""


def assert_clear_message(message: str, field: str | None = None) -> None:
    """A refusal people can read: one line, not huge, naming ``field``, nothing raw."""
    assert isinstance(message, str) and message.strip(), f"empty message: {message!r}"
    assert "\n" not in message.strip() and "\r" not in message, f"not one line: {message!r}"
    assert len(message) <= MAX_MESSAGE, f"message of {len(message)} characters"
    if field is not None:
        assert field in message, f"{field!r} not named in {message!r}"
    raw = dangerous_chars(message)
    assert not raw, f"raw control characters in the message: {sorted(map(ascii, raw))}"
    assert "Traceback" not in message


def assert_no_secret(text: str, secrets: Iterable[str], *, sent: Any = "") -> None:
    """``text`` (a response body) holds no secret and no raw control character sent."""
    for secret in secrets:
        if secret:
            assert secret not in text, "a secret of the site is echoed in the response"
    raw = dangerous_chars(text) & dangerous_chars(sent_text(sent))
    assert not raw, f"raw control characters echoed: {sorted(map(ascii, raw))}"
    assert "Traceback (most recent call last)" not in text


@dataclass
class HubState:
    """What one user has on a hub under test, to compare before and after a request."""

    user: str
    servers: dict[str, Any]
    containers: list[str]
    trust: bytes | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def take(cls, hub: Any, user: str) -> HubState:
        model = hub.api("GET", f"/users/{user}?include_stopped_servers=1").json()
        # JupyterHub stores {} as the options of a spawner it only instantiated: the same
        # as none (nothing of a request)
        servers = {
            name: {"user_options": server.get("user_options") or {}, "ready": server.get("ready"),
                   "pending": server.get("pending")}
            for name, server in (model.get("servers") or {}).items()
        }  # fmt: skip
        trust_file = hub.state / "web" / "trust.json"
        trust = trust_file.read_bytes() if trust_file.exists() else None
        return cls(user, servers, containers_of(hub, user), trust)

    def assert_unchanged(self, hub: Any, server: str | None = None, *, wait: float = 15) -> None:
        """Nothing started, no server entry left, nothing persisted (waits up to ``wait``
        seconds for the entry of a refused start to be removed, as the spawner does it
        once JupyterHub has handled the failure)."""
        deadline = time.monotonic() + wait
        while True:
            after = HubState.take(hub, self.user)
            if after.servers == self.servers or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        if server:
            started = containers_of(hub, self.user, server)
            assert started == [], f"containers started for {self.user}/{server}: {started}"
        assert after.containers == self.containers, (
            f"containers of {self.user} changed: {self.containers} -> {after.containers}"
        )
        assert after.servers == self.servers, (
            f"server entries of {self.user} changed: "
            f"{_short(self.servers)} -> {_short(after.servers)}"
        )
        assert after.trust == self.trust, "the trust store changed"


def containers_of(hub: Any, owner: str, server: str | None = None) -> list[str]:
    """Ids of *this* hub's server containers (running or not) labelled with ``owner`` (and
    ``server``): ``SiteUnderTest.containers`` through the Docker SDK, which answers in a
    few milliseconds (other hubs of the test run have their own API address)."""
    import docker

    labels = [f"{OWNER_LABEL}={owner}"]
    if server is not None:
        labels.append(f"{SERVER_LABEL}={server}")
    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": labels})
        mine = f"JUPYTERHUB_API_URL=http://{hub.hub_ip}:{hub.hub_port}/"
        return sorted(
            c.id[:12]
            for c in found
            if any(v.startswith(mine) for v in (c.attrs.get("Config") or {}).get("Env") or [])
        )
    finally:
        client.close()


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) < 300 else text[:300] + "…"


def hub_secrets(hub: Any, *tokens: str) -> list[str]:
    """The secrets of a hub under test: admin token, demo password, cookie secret, the
    given user tokens."""
    secret_file = hub.paths.hub / "jupyterhub_cookie_secret"
    cookie = secret_file.read_text().strip() if secret_file.exists() else ""
    return [hub.token, hub.password, cookie, *tokens]

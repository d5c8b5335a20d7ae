"""Ask the OPA server for a decision, through opa-python-client, and fail closed.

:class:`PolicyClient` keeps one ``opa_client.opa_async.AsyncOpaClient`` session open across
calls (use it as ``async with PolicyClient(url) as client``, or call ``open``/``close``). Every
call has a deadline (``timeout``, default 1 s) covering retries; connection errors are retried
a bounded number of times while the deadline allows, timeouts never are.

It must never return ``allowed=True`` unless OPA answered in time with a well-formed decision
that says so: OPA down, slow, an undefined result (``{}`` without ``result``), an HTTP error or a
malformed document all become :func:`~versahub.policy.decision.unavailable`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from opa_client.opa_async import AsyncOpaClient

from versahub.errors import InputError, shorten
from versahub.policy.decision import (
    Decision,
    Finding,
    MalformedDecision,
    confirmation_hash,
    unavailable,
    validate_decision,
)
from versahub.policy.input import build_input

__all__ = [
    "DEFAULT_OPA_URL",
    "Decision",
    "Finding",
    "MalformedDecision",
    "PolicyClient",
    "confirmation_hash",
    "validate_decision",
]

log = logging.getLogger(__name__)

DEFAULT_OPA_URL = "http://127.0.0.1:8181"
PACKAGE = "versahub.spawn"
RULE = "decision"
RETRY_BACKOFF = 0.05


def split_opa_url(url: str) -> tuple[str, int, bool]:
    """Return ``(host, port, https)`` of an OPA base URL such as ``http://127.0.0.1:8181``."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InputError("opa", f"{shorten(url)} is not an http(s) URL of an OPA server")
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise InputError("opa", f"{shorten(url)} must be a base URL without a path")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 8181)
    except ValueError:
        raise InputError("opa", f"{shorten(url)} has an invalid port") from None
    host = parts.hostname
    if ":" in host:  # IPv6 literal: opa-python-client builds f"{host}:{port}"
        host = f"[{host}]"
    return host, port, parts.scheme == "https"


class PolicyClient:
    """Decisions for requested server configurations, from one OPA server."""

    def __init__(
        self,
        url: str = DEFAULT_OPA_URL,
        *,
        timeout: float = 1.0,
        retries: int = 1,
        package: str = PACKAGE,
        rule: str = RULE,
    ) -> None:
        if timeout <= 0:
            raise InputError("timeout", "must be positive")
        if retries < 0:
            raise InputError("retries", "must not be negative")
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.package = package
        self.rule = rule
        self._host, self._port, self._https = split_opa_url(self.url)
        self._opa: AsyncOpaClient | None = None
        self._lock = asyncio.Lock()

    async def open(self) -> PolicyClient:
        """Open the HTTP session (idempotent)."""
        async with self._lock:
            if self._opa is None:
                # retries=0: the library would also retry timeouts (aiohttp's
                # ServerTimeoutError is a ClientConnectionError); we retry ourselves.
                opa = AsyncOpaClient(
                    host=self._host,
                    port=self._port,
                    ssl=self._https,
                    retries=0,
                    timeout=self.timeout,
                )
                await opa.__aenter__()
                self._opa = opa
        return self

    async def close(self) -> None:
        opa, self._opa = self._opa, None
        if opa is not None:
            await opa.__aexit__(None, None, None)

    async def __aenter__(self) -> PolicyClient:
        return await self.open()

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def healthy(self) -> bool:
        """True when OPA answers ``GET /health`` with 200 (never raises)."""
        try:
            await self.open()
            assert self._opa is not None
            async with asyncio.timeout(self.timeout):
                return bool(await self._opa.check_health())
        except Exception:
            return False

    async def _query(self, input_doc: Mapping[str, Any]) -> Any:
        await self.open()
        assert self._opa is not None
        return await self._opa.query_rule(dict(input_doc), self.package, self.rule)

    async def decide(self, input_doc: Mapping[str, Any]) -> Decision:
        """Return OPA's decision for ``input_doc`` (see ``build_input``).

        Never raises for engine trouble: OPA down, slow past ``timeout``, an HTTP error, an
        undefined or malformed decision is a denial with the ``policy-engine-unavailable``
        finding. ``decide_spec`` raises ``InputError`` only for bad *input*.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempt = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return self._unavailable(
                    f"OPA at {self.url} gave no answer within {self.timeout} s"
                )
            try:
                async with asyncio.timeout(remaining):
                    raw = await self._query(input_doc)
                break
            except TimeoutError:  # includes aiohttp.ServerTimeoutError
                return self._unavailable(
                    f"OPA at {self.url} did not answer within {self.timeout} s"
                )
            except aiohttp.ClientConnectionError as err:
                if attempt < self.retries and deadline - loop.time() > RETRY_BACKOFF:
                    attempt += 1
                    await asyncio.sleep(RETRY_BACKOFF)
                    continue
                return self._unavailable(f"cannot reach OPA at {self.url} ({_describe(err)})")
            except aiohttp.ClientResponseError as err:
                return self._unavailable(f"OPA at {self.url} answered HTTP {err.status}")
            except (aiohttp.ContentTypeError, json.JSONDecodeError) as err:
                return self._unavailable(
                    f"OPA at {self.url} sent a response that is not JSON ({_describe(err)})"
                )
            except aiohttp.ClientError as err:
                return self._unavailable(f"request to OPA at {self.url} failed ({_describe(err)})")
            except Exception as err:  # fail closed on anything unexpected, but say what
                log.exception("unexpected error while asking OPA")
                return self._unavailable(f"unexpected error asking OPA ({_describe(err)})")
        decision_id = raw.get("decision_id") if isinstance(raw, dict) else None
        decision_id = decision_id if isinstance(decision_id, str) else None
        if not isinstance(raw, dict) or "result" not in raw:
            return self._unavailable(
                f"data.{self.package}.{self.rule} is undefined (are the policy files loaded "
                "and free of errors?)",
                decision_id,
            )
        try:
            return validate_decision(raw["result"], decision_id=decision_id)
        except MalformedDecision as err:
            return self._unavailable(f"the decision is malformed: {err}", decision_id)

    async def decide_spec(
        self,
        spec: Any,
        user: Any,
        origin: Mapping[str, Any] | None = None,
        directory: Mapping[str, Iterable[str]] | None = None,
        site: Mapping[str, Any] | None = None,
    ) -> Decision:
        """``decide(build_input(...))`` in one call."""
        return await self.decide(build_input(spec, user, origin, directory, site))

    def _unavailable(self, reason: str, decision_id: str | None = None) -> Decision:
        log.warning("policy decision failed closed: %s (decision_id=%s)", reason, decision_id)
        denial = unavailable(reason)
        return Decision(False, denial.deny, (), decision_id)


def _describe(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    return text if len(text) < 200 else text[:199] + "…"

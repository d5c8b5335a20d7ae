"""``POST /hub/api/versahub/decision-log/logs``: OPA's decision-log uploads, into the store.

OPA's stock decision-log plugin (``decision_logs.service``, configured by ``versahub up``:
``versahub.policy.server.decision_log_config``) posts batches of masked events,
gzip-compressed JSON arrays, to ``<service url>/logs`` with the token of the hub service
``versahub-opa``; only a token with the scope ``custom:versahub:decision-log`` may post.
Each spawn decision becomes a record in ``<state_dir>/policy/decisions.sqlite``
(``versahub.policy.decision_store``); records older than ``policy.decision_log.keep_days``
are dropped in the same transaction. Events of other paths are ignored; a malformed spawn
event is logged with the field at fault and skipped (the rest of the batch is kept: OPA
would otherwise send the same batch forever).
"""

from __future__ import annotations

import asyncio
import json
import logging
import zlib
from typing import Any

from tornado import web

from versahub.errors import InputError
from versahub.hub.config import DECISION_LOG_SCOPE as SCOPE
from versahub.hub.handlers import VersaHubAPIHandler
from versahub.policy import decision_store
from versahub.policy.records import MAX_EVENTS, DecisionRecord, record_from_event

log = logging.getLogger(__name__)

MAX_BODY = 64 * 1024 * 1024  # decompressed


def decompress(body: bytes, encoding: str | None) -> bytes:
    """The request body, un-gzipped when ``Content-Encoding: gzip``; at most ``MAX_BODY``."""
    if not encoding:
        data = body
    elif encoding.strip().lower() == "gzip":
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            data = inflater.decompress(body, MAX_BODY + 1)
        except zlib.error:
            raise web.HTTPError(400, "the body is not valid gzip") from None
        if not inflater.eof and len(data) <= MAX_BODY:
            raise web.HTTPError(400, "the gzip body is truncated")
    else:
        raise web.HTTPError(415, f"Content-Encoding {encoding!r} is not supported (gzip is)")
    if len(data) > MAX_BODY:
        raise web.HTTPError(413, f"the decompressed body is larger than {MAX_BODY} bytes")
    return data


def parse_batch(data: bytes) -> tuple[list[DecisionRecord], list[str]]:
    """The spawn decisions of one upload, and one line per skipped malformed event."""
    try:
        events = json.loads(data)
    except (ValueError, RecursionError):
        raise web.HTTPError(400, "the body is not valid JSON") from None
    if not isinstance(events, list):
        raise web.HTTPError(400, "the body must be a JSON array of decision-log events")
    if len(events) > MAX_EVENTS:
        raise web.HTTPError(413, f"more than {MAX_EVENTS} events in one upload")
    records, skipped = [], []
    for index, event in enumerate(events):
        try:
            record = record_from_event(event)
        except InputError as err:
            skipped.append(f"event {index}: {err}")
            continue
        if record is not None:
            records.append(record)
    return records, skipped


class DecisionLogHandler(VersaHubAPIHandler):
    """Receives OPA's decision-log uploads (``POST``; OPA's service URL + ``/logs``)."""

    def check_xsrf_cookie(self) -> None:
        # token-only endpoint: a browser's cookie is refused below anyway
        return None

    async def post(self) -> None:
        caller = self.current_user
        if caller is None:
            raise web.HTTPError(403, f"a token with the scope {SCOPE} is needed")
        if SCOPE not in self.expanded_scopes:
            raise web.HTTPError(403, f"this token lacks the scope {SCOPE}")
        data = decompress(self.request.body, self.request.headers.get("Content-Encoding"))
        records, skipped = parse_batch(data)
        for line in skipped:
            log.warning("decision log upload: skipped a malformed event: %s", line)
        site = await self.service.site()
        keep_days = int(site.policy["decision_log"]["keep_days"])
        added = await asyncio.to_thread(_store, site.state_dir, records, keep_days)
        self.set_header("Content-Type", "application/json")
        self.write({"recorded": added, "skipped": skipped})


def _store(state_dir: Any, records: list[DecisionRecord], keep_days: int) -> int:
    db = decision_store.connect(state_dir, create=True)
    try:
        return decision_store.add(db, records, keep_days=keep_days)
    finally:
        db.close()

"""VersaHub's own log lines reach the hub's log in the hub's format (issue 10, item 11).

The hub is started by ``web_support.WebHub`` exactly as ``versahub up`` configures it (the
product's ``site_settings``; no log settings of this test's own). With OPA stopped, a
``POST /hub/api/versahub/check`` makes ``versahub.policy.client`` fail closed and say so
at WARNING inside the hub process; that line must carry the hub's prefix
(``[W <date> versahub.policy.client client:<line>]``), once, rather than the bare message
of Python's last-resort handler.
"""

from __future__ import annotations

import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from web_support import WebHub

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SPEC = {"repo": "https://github.com/binder-examples/requirements"}
MESSAGE = "policy decision failed closed: cannot reach OPA"
HUB_LINE = re.compile(
    r"^\[W \d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} versahub\.policy\.client client:\d+\] "
    + re.escape(MESSAGE),
    re.MULTILINE,
)


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebHub]:
    site = WebHub(tmp_path_factory.mktemp("hub-logs")).start()
    try:
        yield site
    finally:
        site.stop()


def test_versahub_warning_in_the_hubs_format(hub: WebHub) -> None:
    alice = hub.login("alice")
    opa = hub.procs[0]  # WebHub starts OPA first
    os.killpg(opa.pid, 15)
    opa.wait(timeout=20)

    r = alice.post(f"{hub.url}/hub/api/versahub/check", json={"spec": SPEC}, timeout=30)
    assert r.status_code == 200, r.text
    assert r.json()["decision"]["allowed"] is False  # failed closed

    deadline = time.monotonic() + 10
    text = ""
    while time.monotonic() < deadline:
        text = hub.log.read_text(errors="replace")
        if HUB_LINE.search(text):
            break
        time.sleep(0.2)
    assert HUB_LINE.search(text), text[-3000:]
    # every line with the message is the formatted one: no bare copy, no second handler
    with_message = [line for line in text.splitlines() if MESSAGE in line]
    assert with_message and all(HUB_LINE.match(line) for line in with_message), with_message
    assert len(with_message) == 1, with_message

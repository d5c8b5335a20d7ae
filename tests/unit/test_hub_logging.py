"""VersaHub's loggers in the hub's log: the settings, applied by a real JupyterHub app object."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from jupyterhub.app import JupyterHub
from traitlets.config import Config

from versahub.app.hubconfig import HubPaths, apply_settings, hub_settings
from versahub.site.config import load_site

REPO = Path(__file__).resolve().parents[2]
HUB_LINE = r"\[{level} \d{{4}}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{{3}} {name} \S+:\d+\] {message}$"


@pytest.fixture
def clean_loggers() -> Iterator[None]:
    """dictConfig changes process-wide loggers: give them back as they were."""
    names = ("versahub", "JupyterHub")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    propagate = {n: logging.getLogger(n).propagate for n in names}
    yield
    for name, (handlers, level) in saved.items():
        logger = logging.getLogger(name)
        logger.handlers[:] = handlers
        logger.setLevel(level)
        logger.propagate = propagate[name]


def _hub(tmp_path: Path, log_level: str) -> JupyterHub:
    c = Config()
    site = load_site(REPO / "site.yaml")
    apply_settings(c, hub_settings(site, paths=HubPaths(tmp_path), demo_password="pw", chp="chp"))
    c.JupyterHub.log_level = log_level
    return JupyterHub(config=c)  # loading the config configures logging (no initialize)


@pytest.mark.usefixtures("clean_loggers")
def test_versahub_lines_use_the_hubs_handler_and_format(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hub = _hub(tmp_path, "INFO")
    capsys.readouterr()
    logging.getLogger("versahub.policy.client").info("an info line")
    logging.getLogger("versahub.images.builder").warning("a warning line")
    logging.getLogger("versahub.hub.network").debug("below the hub's log_level")
    hub.log.info("the hub's own line")
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 3, lines
    assert re.match(HUB_LINE.format(level="I", name=r"versahub\.policy\.client",
                                    message="an info line"), lines[0])  # fmt: skip
    assert re.match(HUB_LINE.format(level="W", name=r"versahub\.images\.builder",
                                    message="a warning line"), lines[1])  # fmt: skip
    assert re.match(HUB_LINE.format(level="I", name="JupyterHub",
                                    message="the hub's own line"), lines[2])  # fmt: skip
    # one handler, shared: not a second copy of each line through the root logger
    assert logging.getLogger("versahub").handlers == hub.log.handlers
    assert logging.getLogger("versahub").propagate is False


@pytest.mark.usefixtures("clean_loggers")
def test_versahub_follows_the_hubs_log_level(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _hub(tmp_path, "DEBUG")
    capsys.readouterr()  # the hub's own "Config changed" debug line
    logging.getLogger("versahub.hub.network").debug("a debug line")
    (line,) = capsys.readouterr().err.splitlines()
    assert re.match(HUB_LINE.format(level="D", name=r"versahub\.hub\.network",
                                    message="a debug line"), line)  # fmt: skip

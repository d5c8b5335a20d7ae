"""ServerSpec: the validated description of one VersaHub server (the shared contract).

Import from here: ``parse_spec``, ``ServerSpec``, ``Mount``, ``Resources``, ``Source``,
``random_server_name``. Nothing in this package performs I/O or talks to a network;
``files.py`` (``read_spec_file``) is the only part that reads files.
"""

from __future__ import annotations

from versahub.spec.model import Mount, Resources, ServerSpec, parse_spec, spec_errors
from versahub.spec.names import random_server_name
from versahub.spec.repos import PROVIDERS, Source

__all__ = [
    "PROVIDERS",
    "Mount",
    "Resources",
    "ServerSpec",
    "Source",
    "parse_spec",
    "random_server_name",
    "spec_errors",
]

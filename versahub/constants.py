"""Names that several layers share and that must be spelled one way (no logic, no imports).

Each name lives in the lowest layer that needs it; this module holds the ones whose users
cannot import each other: the launch API creates guest accounts (``versahub.hub.handlers``,
JupyterHub and tornado) and the culler, a separate hub service that imports neither,
deletes them.
"""

from __future__ import annotations

# Guest accounts of public read-only copies: ``guest-<random>``, each in GUEST_GROUP. The
# culler may delete members of that group only (its scope is
# ``delete:users!group=versahub-guests``), once their copy is gone.
GUEST_PREFIX = "guest-"
GUEST_GROUP = "versahub-guests"

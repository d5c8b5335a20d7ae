"""``hub.tls``: HTTPS served by the hub's proxy (docs/site.md#hubtls-https).

:func:`hub_tls` resolves the section (paths relative to site.yaml's folder, defaults filled
in); :func:`check_hub_tls` is the site loader's check (https URL, files present, key not
readable by everyone, the redirect port not the https one); :func:`check_key_pair` is the
check ``versahub up`` runs before it starts anything (the key must match the certificate:
Python's own ``ssl``, the same OpenSSL the proxy's Node.js is built against). Nothing here
reads a key's content but ``check_key_pair``.
"""

from __future__ import annotations

import ssl
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from versahub.errors import InputError, shorten
from versahub.util.files import beside

HSTS_MAX_AGE = 31_536_000  # one year, the usual preload minimum


@dataclass(frozen=True)
class HubTLS:
    certificate: Path
    key: Path
    redirect_port: int | None
    hsts_max_age: int
    https_port: int


def hub_tls(doc: Mapping[str, Any], site_path: Path | None) -> HubTLS | None:
    """The site's ``hub.tls`` with resolved paths, or ``None`` when the hub serves HTTP."""
    tls = doc["hub"].get("tls")
    if not tls:
        return None
    url = urlsplit(str(doc["hub"]["url"]))
    return HubTLS(
        certificate=beside(str(tls["certificate"]), site_path),
        key=beside(str(tls["key"]), site_path),
        redirect_port=tls.get("redirect_port"),
        hsts_max_age=int(tls.get("hsts_max_age", HSTS_MAX_AGE)),
        https_port=url.port or 443,
    )


def check_hub_tls(doc: Mapping[str, Any], origin: str, site_path: Path | None) -> None:
    tls = hub_tls(doc, site_path)
    if tls is None:
        return
    if urlsplit(str(doc["hub"]["url"])).scheme != "https":
        raise InputError(f"{origin}: hub.tls", "hub.url must be an https URL when hub.tls is set")
    for name, path in (("certificate", tls.certificate), ("key", tls.key)):
        try:
            info = path.stat()
        except OSError:
            raise InputError(
                f"{origin}: hub.tls.{name}", f"no such file: {shorten(str(path))}"
            ) from None
        if not stat.S_ISREG(info.st_mode):
            raise InputError(
                f"{origin}: hub.tls.{name}", f"not a regular file: {shorten(str(path))}"
            )
    if tls.key.stat().st_mode & stat.S_IROTH:
        raise InputError(
            f"{origin}: hub.tls.key",
            f"{shorten(str(tls.key))} is readable by every user of this machine (chmod o-r)",
        )
    if tls.redirect_port == tls.https_port:
        raise InputError(f"{origin}: hub.tls.redirect_port", "must differ from the port of hub.url")


def check_key_pair(tls: HubTLS) -> None:
    """Refuse, naming the key, a certificate and key that do not make a pair (or cannot be
    read by whoever starts the hub)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(str(tls.certificate), str(tls.key))
    except (ssl.SSLError, OSError) as err:
        reason = getattr(err, "reason", None) or err.strerror or str(err)
        raise InputError(
            "hub.tls.key",
            f"the certificate {shorten(str(tls.certificate))} and the key "
            f"{shorten(str(tls.key))} cannot be used together: {reason}",
        ) from None

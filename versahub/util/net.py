"""``host:port`` addresses, parsed one way everywhere (site.yaml, OPA, the registry)."""

from __future__ import annotations

from versahub.errors import InputError, shorten


def split_host_port(
    address: str, field: str = "address", *, default_host: str = ""
) -> tuple[str, int]:
    """``"127.0.0.1:8181"`` → ``("127.0.0.1", 8181)``; ``[::1]:80`` → ``("::1", 80)``.

    An empty host is ``default_host``. A missing or out-of-range port is an ``InputError``
    naming ``field``.
    """
    host, sep, port_text = str(address).rpartition(":")
    if not sep or not port_text.isdigit() or not 0 < int(port_text) < 65536:
        raise InputError(field, f"expected host:port, got {shorten(address)}")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    return host or default_host, int(port_text)

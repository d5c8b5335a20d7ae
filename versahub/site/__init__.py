"""The site: ``site.yaml`` loading and validation, and the processes of ``versahub up``.

``config`` (pure: defaults + schema → :class:`Site`), ``hubconfig`` (pure: Site → the
JupyterHub traitlets to set), ``processes`` (thin I/O: start, stop and probe the hub, the
proxy and OPA), ``cli`` (``versahub up``/``down``/``status``).
"""

from versahub.site.config import Site, load_site, site_from_mapping

__all__ = ["Site", "load_site", "site_from_mapping"]

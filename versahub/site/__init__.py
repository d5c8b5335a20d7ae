"""The site: ``site.yaml`` loaded and validated once (defaults + one schema → :class:`Site`).

``config`` (pure apart from reading the file), ``defaults`` (the one place for defaults),
``source`` (the one site object of a process, re-read when the file changes). The hub's
settings and the processes of ``versahub up`` live in ``versahub.app``.
"""

from versahub.site.config import Site, load_site, site_from_mapping

__all__ = ["Site", "load_site", "site_from_mapping"]

"""The JupyterHub settings that mount the launch page into the hub (pure).

``web_settings(site, paths)`` returns ``{"JupyterHub": {trait: value}}`` to be merged into
the site's hub settings (``versahub.app.hubconfig``): ``template_paths`` (our
``home.html`` replaces the stock home page), ``extra_handlers`` (mounted by JupyterHub
under ``/hub/``; handler classes named as import strings so the result prints and
golden-tests) and ``template_vars`` (what the page shows from site.yaml). Nothing is read
or written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from versahub.web.catalogue import read_catalogue

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
H = "versahub.web.handlers."
SPEC_ID = r"([0-9a-f]{16})"


def handler_context(site: Any, paths: Any) -> dict[str, Any]:
    """The plain data every handler receives (``initialize(versahub=…)``)."""
    volumes = {
        name: {"kind": vol.get("kind", ""), "description": vol.get("description", "")}
        for name, vol in site.volumes.items()
    }
    return {
        "site_name": site.name,
        "hub_url": site.hub_url,
        "opa_url": site.opa_url,
        "opa_timeout": float(site.data["opa"].get("timeout", 1.0)),
        "trust_file": str(Path(paths.state) / "web" / "trust.json"),
        "volumes": volumes,
    }


def template_data(site: Any) -> dict[str, Any]:
    """``template_vars["versahub"]``: everything the page shows from site.yaml."""
    meta = site.data["site"]
    volumes = [
        {"name": name, "kind": vol.get("kind", ""), "description": vol.get("description", "")}
        for name, vol in site.volumes.items()
    ]
    catalogue, problems = read_catalogue(site.data, list(site.volumes))
    return {
        "site_name": site.name,
        "institution": meta.get("institution", ""),
        "docs_url": meta.get("docs_url", ""),
        "credits": meta.get("credits", ""),
        "warnings": list(meta.get("warnings") or []),
        "hub_url": site.hub_url,
        "volumes": volumes,
        "catalogue": catalogue,
        "catalogue_problems": problems,
    }


def web_settings(site: Any, paths: Any) -> dict[str, dict[str, Any]]:
    """Return the traitlets to set: ``{"JupyterHub": {template_paths, extra_handlers,
    template_vars}}``. Merge per trait into the hub settings (do not replace the class)."""
    ctx = {"versahub": handler_context(site, paths)}
    handlers: list[tuple[Any, ...]] = [
        (r"/v2/(.+)", H + "LaunchPageHandler", ctx),
        (r"/versahub/launch", H + "LaunchPageHandler", ctx),
        (r"/api/versahub/check", H + "CheckAPIHandler", ctx),
        (r"/api/versahub/trust", H + "TrustAPIHandler", ctx),
        (rf"/api/versahub/trust/{SPEC_ID}", H + "TrustAPIHandler", ctx),
        (r"/badge.svg", H + "BadgeHandler"),
        (r"/versahub/static/(.*)", "tornado.web.StaticFileHandler", {"path": str(STATIC_DIR)}),
    ]
    return {
        "JupyterHub": {
            "template_paths": [str(TEMPLATES_DIR)],
            "extra_handlers": handlers,
            "template_vars": {"versahub": template_data(site)},
            # After login, show the launch page (home.html) instead of spawning the
            # default server, which has no spec to start.
            "redirect_to_server": False,
        }
    }

"""The JupyterHub settings that mount the launch page into the hub (pure).

``web_settings(site, paths)`` returns ``{"JupyterHub": {trait: value}}`` to be merged into
the site's hub settings (``versahub.app.hubconfig``): ``template_paths`` (our
``home.html`` replaces the stock home page), ``extra_handlers`` (mounted by JupyterHub
under ``/hub/``; handler classes named as import strings so the result prints and
golden-tests) and ``template_vars`` (what the page shows from site.yaml: a
:class:`PageData` that reads the one site object at every render, so an edited
``site.yaml`` reaches the page without a hub restart). Nothing is read or written here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from versahub.policy.rule_docs import RULE_ID_PATTERN
from versahub.site.config import Site
from versahub.site.source import site_file

HERE = Path(__file__).resolve().parent
TEMPLATES_DIR = HERE / "templates"
STATIC_DIR = HERE / "static"
H = "versahub.web.handlers."
SPEC_ID = r"([0-9a-f]{16})"


def template_data(site: Site) -> dict[str, Any]:
    """``template_vars["versahub"]``: everything the page shows from site.yaml."""
    meta = site.data["site"]
    volumes = [
        {"name": name, "kind": vol.get("kind", ""), "description": vol.get("description", "")}
        for name, vol in site.volumes.items()
    ]
    return {
        "site_name": site.name,
        "institution": meta.get("institution", ""),
        "docs_url": meta.get("docs_url", ""),
        "credits": meta.get("credits", ""),
        "warnings": list(meta.get("warnings") or []),
        "hub_url": site.hub_url,
        "volumes": volumes,
        "catalogue": [dict(entry) for entry in site.catalogue],
    }


class PageData:
    """A ``template_vars`` value JupyterHub calls with the current user at every render."""

    def __init__(self, site_path: str) -> None:
        self.site_path = site_path

    def __call__(self, user: Any) -> dict[str, Any]:
        return template_data(site_file(self.site_path).current())

    def __repr__(self) -> str:
        return f"PageData({self.site_path!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PageData) and other.site_path == self.site_path

    def __hash__(self) -> int:
        return hash(self.site_path)


def web_settings(site: Site, paths: Any = None) -> dict[str, dict[str, Any]]:
    """Return the traitlets to set: ``{"JupyterHub": {template_paths, extra_handlers,
    template_vars}}``. Merge per trait into the hub settings (do not replace the class).
    Handlers find the site through ``tornado_settings["versahub_site_file"]``."""
    entry_point = bool(site.data["federation"]["entry_point"].get("enabled"))
    launch_links = "versahub.web.federation.FederationRedirectHandler" if entry_point else (
        H + "LaunchPageHandler")  # fmt: skip
    handlers: list[tuple[Any, ...]] = [
        (r"/v2/(.+)", launch_links),
        (r"/repo/(.+)", "versahub.web.legacy.LegacyRedirectHandler"),
        (r"/versahub/launch", H + "LaunchPageHandler"),
        (r"/api/versahub/check", H + "CheckAPIHandler"),
        (r"/api/versahub/trust", H + "TrustAPIHandler"),
        (rf"/api/versahub/trust/{SPEC_ID}", H + "TrustAPIHandler"),
        (r"/badge.svg", H + "BadgeHandler"),
        (r"/versahub/catalogue", "versahub.web.catalogue.CataloguePageHandler"),
        (r"/versahub/usage", "versahub.web.usage.UsagePageHandler"),
        (r"/versahub/decisions", "versahub.web.audit.DecisionsPageHandler"),
        (rf"/versahub/decisions/rules/({RULE_ID_PATTERN})", "versahub.web.audit.RuleDocHandler"),
        (r"/api/versahub/catalogue", "versahub.web.catalogue.CatalogueAPIHandler"),
        (r"/api/versahub/decision-log/logs", "versahub.web.decisions.DecisionLogHandler"),
        (r"/versahub/static/(.*)", "tornado.web.StaticFileHandler", {"path": str(STATIC_DIR)}),
    ]
    return {
        "JupyterHub": {
            "template_paths": [str(TEMPLATES_DIR)],
            "extra_handlers": handlers,
            "template_vars": {"versahub": PageData(str(site.path))},
            "tornado_settings": {"versahub_site_file": str(site.path)},
            # After login, show the launch page (home.html) instead of spawning the
            # default server, which has no spec to start.
            "redirect_to_server": False,
        }
    }

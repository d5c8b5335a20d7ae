"""Shared steps of the launch-page browser tests (Playwright page helpers)."""

from __future__ import annotations

from typing import Any

REQS = "https://github.com/binder-examples/requirements"
HOME_RW_WARNINGS = {"internet-data-exfiltration", "internet-egress", "storage-read-write"}

# A catalogue entry that only the teaching volume's writers (the admin) may launch: the page
# must say so before any click.
TEACHERS_ENTRY = {
    "id": "ds101-edit",
    "title": "DS101 course material (teachers)",
    "description": "Edit the course material: the teaching volume read-write.",
    "spec": {
        "repo": REQS,
        "mounts": [{"volume": "teaching", "path": "/home/jovyan/course", "mode": "rw"}],
    },
}


def finding_ids(page: Any) -> set[str]:
    return set(
        page.eval_on_selector_all(
            "#vh-dialog-findings [data-finding-id]", "els => els.map(e => e.dataset.findingId)"
        )
    )


def fill_home_rw(
    page: Any, repo: str = REQS, ref: str = "", name: str = "", urlpath: str = ""
) -> None:
    if page.locator("#vh-form").is_hidden():
        page.click("#vh-create")
    page.fill("#f-repo", repo)
    page.fill("#f-ref", ref)
    page.fill("#f-urlpath", urlpath)
    page.fill("#f-server_name", name)
    if not page.locator("#vh-advanced-access").evaluate("d => d.open"):
        page.click("#vh-advanced-access summary")
    page.evaluate("document.getElementById('vh-mount-rows').textContent = ''")
    page.click("#vh-add-mount")
    page.select_option("#vh-mount-rows tr .m-volume", "home")
    page.fill("#vh-mount-rows tr .m-path", "/home/jovyan/work")
    page.select_option("#vh-mount-rows tr .m-mode", "rw")
    page.wait_for_function("document.getElementById('s-url').value.includes('mount=home')")


def dialog_open(page: Any) -> bool:
    return bool(page.evaluate("document.getElementById('vh-dialog').open"))

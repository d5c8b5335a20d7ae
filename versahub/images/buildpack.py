"""VersaHub's offline repo2docker buildpack: common Binder repos built FROM the site's base image.

repo2docker's Python buildpack installs Python with micromamba from conda-forge, which sites
behind a firewall cannot reach. This buildpack builds the same repository kinds —
``requirements.txt``, ``apt.txt``, ``postBuild``, ``start``, ``runtime.txt`` (``python-3.x``)
and ``setup.py``, at the top level or in ``binder/`` / ``.binder/`` — on top of the site's
base image (``versahub images bootstrap``: Debian's python3 in a venv, JupyterLab,
jupyterhub-singleuser, the site CA bundle) using only Debian packages and the site's PyPI.

It is a plain repo2docker ``BuildPack`` subclass, registered through repo2docker's own
configuration (``c.Repo2Docker.buildpacks``, see ``repo2docker_config``); repo2docker itself
is not modified. Repositories that need conda (``environment.yml``), Julia, R, Nix or a
Pipfile are left to repo2docker's standard buildpacks, which follow this one in the list.
"""

from __future__ import annotations

import os
import textwrap
from functools import lru_cache

import jinja2
from repo2docker.buildpacks.base import BaseImage

# Bump when the rendered Dockerfile changes: it is part of every image name (cache key).
BUILDPACK_VERSION = "1"

# Files that mean "another buildpack knows this repository better".
_OTHER_KINDS = (
    "environment.yml",
    "Pipfile",
    "Pipfile.lock",
    "Project.toml",
    "REQUIRE",
    "install.R",
    "DESCRIPTION",
    "default.nix",
    "Dockerfile",
)

TEMPLATE = r"""
# Rendered by VersaHub's offline buildpack (versahub/images/buildpack.py).
FROM {{ base_image }}
USER root
ARG NB_USER
ARG NB_UID
ARG REPO_DIR=${HOME}
ENV REPO_DIR=${REPO_DIR} \
    APP_BASE=/srv
RUN /usr/bin/install -o {{ uid }} -g {{ uid }} -d "${REPO_DIR}"
WORKDIR ${REPO_DIR}
ENV PATH=${HOME}/.local/bin:${REPO_DIR}/.local/bin:${PATH}

{% for user, script in preassemble_scripts -%}
USER {{ user }}
RUN {{ script }}
{% endfor %}
{% if requirements -%}
# Requirements first, so that editing notebooks does not reinstall packages.
COPY --chown={{ uid }}:{{ uid }} src/{{ requirements }} ${REPO_DIR}/{{ requirements }}
USER {{ uid }}
ARG PIP_INDEX_URL=
RUN if [ -z "$PIP_INDEX_URL" ]; then unset PIP_INDEX_URL; fi \
 && pip install --no-cache-dir -r "{{ requirements }}"
USER root
{% endif %}
COPY --chown={{ uid }}:{{ uid }} src/ ${REPO_DIR}/
{% if setup_py -%}
USER {{ uid }}
RUN if [ -z "$PIP_INDEX_URL" ]; then unset PIP_INDEX_URL; fi \
 && pip install --no-cache-dir .
{% endif %}
{% for k, v in labels|dictsort -%}
LABEL {{ k }}="{{ v }}"
{% endfor %}
USER {{ uid }}
{% for s in post_build_scripts -%}
RUN chmod +x "{{ s }}" && ./"{{ s }}"
{% endfor %}
{% if start_script -%}
RUN chmod +x "{{ start_script }}"
ENV R2D_ENTRYPOINT="{{ start_script }}"
{% endif -%}
ENV PYTHONUNBUFFERED=1
COPY --chmod=0755 /python3-login /usr/local/bin/python3-login
COPY --chmod=0755 /repo2docker-entrypoint /usr/local/bin/repo2docker-entrypoint
ENTRYPOINT ["/usr/local/bin/repo2docker-entrypoint"]
CMD ["jupyter", "lab", "--ip", "0.0.0.0"]
{% if appendix %}
{{ appendix }}
{% endif %}
"""


class VersaHubBuildPack(BaseImage):
    """Build requirements.txt / apt.txt / postBuild / start repos FROM the site's base image.

    ``python_version`` is the base image's Python (``major.minor``); a ``runtime.txt`` asking
    for another Python fails the build with a message saying so (the base image cannot
    download another interpreter).
    """

    python_version = "3.11"

    def _has(self, name: str) -> bool:
        return os.path.exists(self.binder_path(name))

    def detect(self) -> bool:
        if any(self._has(name) for name in _OTHER_KINDS):
            return False
        name = self.runtime[0]
        return name in (None, "python")

    def _check_runtime(self) -> None:
        name, version, _date = self.runtime
        if name is None:
            return
        if name != "python":
            raise ValueError(f"runtime.txt asks for {name}; offline builds provide python only")
        if version and not (
            self.python_version == version or self.python_version.startswith(version + ".")
        ):
            raise ValueError(
                f"runtime.txt asks for python-{version}; this site's base image provides "
                f"python {self.python_version} (offline builds cannot download another one)"
            )

    @lru_cache  # noqa: B019 - repo2docker's own buildpacks cache the same way
    def requirements_file(self) -> str | None:
        path = self.binder_path("requirements.txt")
        return path if os.path.exists(path) else None

    def render(self, build_args: dict[str, str] | None = None) -> str:
        self._check_runtime()
        build_args = build_args or {}
        setup_py = (
            os.path.exists("setup.py") and self.binder_dir == "" and not self._has("postBuild")
        )
        return jinja2.Template(TEMPLATE).render(
            base_image=self.base_image,
            uid=build_args.get("NB_UID", "1000"),
            preassemble_scripts=[
                (user, textwrap.dedent(script).strip())
                for user, script in self.get_preassemble_scripts()
            ],
            requirements=self.requirements_file(),
            setup_py=setup_py,
            labels=self.get_labels(),
            post_build_scripts=self.get_post_build_scripts(),
            start_script=self.get_start_script(),
            appendix=self.appendix,
        )


def with_python(version: str) -> type[VersaHubBuildPack]:
    """A ``VersaHubBuildPack`` subclass for a base image whose Python is ``version``."""
    return type("VersaHubBuildPack", (VersaHubBuildPack,), {"python_version": version})


def repo2docker_config(*, base_image: str, python_version: str, offline: bool = True) -> str:
    """Text of a repo2docker ``--config`` file registering the buildpack (pure).

    Order: repo2docker's Dockerfile buildpacks first (a repo's own Dockerfile always wins),
    then VersaHub's, then repo2docker's standard ones for conda/R/Julia/Nix/Pipfile repos.
    ``offline=False`` keeps repo2docker's own list and only sets the base image.
    """
    lines = [
        "# repo2docker configuration written by VersaHub (versahub/images/buildpack.py).",
        f"c.Repo2Docker.base_image = {base_image!r}",
    ]
    if offline:
        lines += [
            "from repo2docker.buildpacks import (",
            "    CondaBuildPack, DockerBuildPack, JuliaProjectTomlBuildPack,",
            "    JuliaRequireBuildPack, LegacyBinderDockerBuildPack, NixBuildPack,",
            "    PipfileBuildPack, RBuildPack,",
            ")",
            "from versahub.images.buildpack import with_python",
            f"VersaHubBuildPack = with_python({python_version!r})",
            "c.Repo2Docker.buildpacks = [",
            "    LegacyBinderDockerBuildPack, DockerBuildPack, VersaHubBuildPack,",
            "    JuliaProjectTomlBuildPack, JuliaRequireBuildPack, NixBuildPack, RBuildPack,",
            "    CondaBuildPack, PipfileBuildPack,",
            "]",
            "c.Repo2Docker.default_buildpack = VersaHubBuildPack",
            "# Only git sources: the data-repository providers fetch lists from the internet",
            "# (Dataverse's installations list on GitHub) as soon as they are loaded.",
            "from repo2docker.contentproviders import Git, Local",
            "c.Repo2Docker.content_providers = [Local, Git]",
        ]
    return "\n".join(lines) + "\n"

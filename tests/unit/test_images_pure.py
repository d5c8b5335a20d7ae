"""Pure parts of versahub.images: names, cache keys, ref picking, events, buildpack, config."""

from __future__ import annotations

import asyncio
import os

import pytest

from versahub.errors import InputError
from versahub.images.buildpack import VersaHubBuildPack, repo2docker_config, with_python
from versahub.images.config import ImagesConfig
from versahub.images.events import EventLog, event, is_meaningful
from versahub.images.names import cache_key, canonical_repo, image_name
from versahub.images.refs import check_ref, pick_commit, resolve_ref
from versahub.images.registry import registry_config

C1 = "a" * 40
C2 = "b" * 40
CFG = {"base_image": "sha256:1", "offline": True}


@pytest.mark.parametrize(
    ("given", "canonical"),
    [
        pytest.param("https://GitHub.com/a/b", "https://github.com/a/b", id="host-case"),
        pytest.param("https://github.com/a/b.git", "https://github.com/a/b", id="dot-git"),
        pytest.param("https://github.com/a/b/", "https://github.com/a/b", id="slash"),
        pytest.param("https://u:p@host:8443/a", "https://host:8443/a", id="no-credentials"),
    ],
)
def test_canonical_repo(given: str, canonical: str) -> None:
    assert canonical_repo(given) == canonical


def test_image_name_follows_binderhub_shape() -> None:
    ref = image_name("https://github.com/binder-examples/requirements", C1, "r2d-1", CFG)
    assert ref.tag == C1
    assert ref.name.startswith("versahub/r2d-https-3a-2f-2fgithub-2ecom-2fbinder-2dexamples")
    assert len(ref.name.rsplit("-", 1)[1]) == 6
    assert str(ref) == f"{ref.name}:{C1}"
    assert ref.name == ref.name.lower() and "_" not in ref.name


def test_same_commit_same_image_other_commit_same_name() -> None:
    a = image_name("https://h/a/b", C1, "r2d-1", CFG)
    assert a == image_name("https://h/a/b.git", C1, "r2d-1", dict(reversed(CFG.items())))
    b = image_name("https://h/a/b", C2, "r2d-1", CFG)
    assert a.name == b.name and a.tag != b.tag and a.key != b.key


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"builder": "r2d-2"}, id="builder-upgrade"),
        pytest.param({"config": {**CFG, "offline": False}}, id="config"),
        pytest.param({"repo": "https://h/a/c"}, id="repo"),
    ],
)
def test_builder_or_config_change_invalidates(change: dict) -> None:
    args = {"repo": "https://h/a/b", "builder": "r2d-1", "config": CFG}
    new = {**args, **change}
    old_ref = image_name(args["repo"], C1, args["builder"], args["config"])
    new_ref = image_name(new["repo"], C1, new["builder"], new["config"])
    assert old_ref.name != new_ref.name
    assert cache_key(args["repo"], C1, args["builder"], args["config"]) != new_ref.key


def test_long_repo_name_is_cut_but_unique() -> None:
    long = "https://h/" + "x" * 400
    a = image_name(long, C1, "r2d-1", CFG)
    b = image_name(long + "y", C1, "r2d-1", CFG)
    assert len(str(a)) <= 255 and a.name != b.name


def test_registry_path_strips_host() -> None:
    ref = image_name("https://h/a", C1, "v", CFG, prefix="127.0.0.1:5000/vh/r2d-")
    assert ref.registry_path == ref.name.removeprefix("127.0.0.1:5000/")
    assert image_name("https://h/a", C1, "v", CFG).registry_path.startswith("versahub/")


@pytest.mark.parametrize("commit", ["HEAD", "abc123", "A" * 40, ""])
def test_image_name_needs_a_full_commit(commit: str) -> None:
    with pytest.raises(InputError) as err:
        image_name("https://h/a", commit, "v", CFG)
    assert err.value.field == "commit"


LS_REMOTE = f"""{C1}\tHEAD
{C1}\trefs/heads/main
{C2}\trefs/heads/dev
{"c" * 40}\trefs/tags/v1
{"d" * 40}\trefs/tags/v2
{"e" * 40}\trefs/tags/v2^{{}}
"""


@pytest.mark.parametrize(
    ("ref", "commit"),
    [
        pytest.param("HEAD", C1, id="head"),
        pytest.param("main", C1, id="branch"),
        pytest.param("dev", C2, id="other-branch"),
        pytest.param("v1", "c" * 40, id="lightweight-tag"),
        pytest.param("v2", "e" * 40, id="annotated-tag-peeled"),
        pytest.param("refs/tags/v2", "e" * 40, id="qualified-tag"),
        pytest.param("refs/heads/dev", C2, id="qualified-branch"),
        pytest.param("nope", None, id="missing"),
    ],
)
def test_pick_commit(ref: str, commit: str | None) -> None:
    assert pick_commit(LS_REMOTE, ref) == commit


@pytest.mark.parametrize("ref", ["-u", "a..b", "a b", "x:y", "a~1", "ref^", "", " ", "a\nb"])
def test_bad_refs_are_input_errors(ref: str) -> None:
    with pytest.raises(InputError) as err:
        check_ref(ref)
    assert err.value.field == "ref"


async def test_full_commit_passes_through_without_network() -> None:
    assert await resolve_ref("https://unreachable.invalid/x", C1, timeout=0.01) == C1


async def test_unreachable_repo_is_a_ref_error(tmp_path: os.PathLike) -> None:
    from versahub.images.refs import RepoUnreachable

    with pytest.raises(RepoUnreachable):
        await resolve_ref(
            f"http://127.0.0.1:9/{os.getpid()}", "main", timeout=10,
            allowed_internal_hosts=("127.0.0.1",),  # else refused before git runs
        )  # fmt: skip


def test_events_shape() -> None:
    assert event("ready", "ok", image="x", progress=None) == {
        "phase": "ready",
        "message": "ok",
        "image": "x",
    }
    with pytest.raises(ValueError):
        event("launching", "no")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("line", "meaningful"),
    [("#12 DONE 0.3s", False), ("   ", False), ("#9 CACHED", False), ("ERROR: boom", True)],
)
def test_meaningful_lines(line: str, meaningful: bool) -> None:
    assert is_meaningful(line) is meaningful


async def test_event_log_replays_to_late_followers() -> None:
    log = EventLog()
    await log.emit(event("building", "one"))
    early = asyncio.create_task(_collect(log))
    await asyncio.sleep(0)
    await log.emit(event("building", "two"))
    late = asyncio.create_task(_collect(log))
    await log.emit(event("ready", "done"))
    assert await early == await late == ["one", "two", "done"]
    with pytest.raises(RuntimeError):
        await log.emit(event("building", "after the end"))


async def _collect(log: EventLog) -> list[str]:
    return [ev["message"] async for ev in log.follow()]


def test_repo2docker_config_registers_buildpack_first_after_dockerfile() -> None:
    text = repo2docker_config(base_image="versahub/base:bookworm", python_version="3.11")
    namespace: dict = {}

    class _C:
        def __getattr__(self, name: str) -> object:
            value = type(name, (), {})()
            setattr(self, name, value)
            return value

    namespace["c"] = c = _C()
    exec(compile(text, "repo2docker_config.py", "exec"), namespace)
    names = [bp.__name__ for bp in c.Repo2Docker.buildpacks]
    assert names[:3] == ["LegacyBinderDockerBuildPack", "DockerBuildPack", "VersaHubBuildPack"]
    assert "CondaBuildPack" in names and "PythonBuildPack" not in names
    assert c.Repo2Docker.base_image == "versahub/base:bookworm"
    assert c.Repo2Docker.default_buildpack.python_version == "3.11"


def _render(tmp_path, files: dict[str, str], python: str = "3.11") -> tuple[bool, str]:
    for rel, text in files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        bp = with_python(python)(base_image="site/base:1")
        detected = bp.detect()
        return detected, bp.render({"NB_UID": "1000", "NB_USER": "jovyan"}) if detected else ""
    finally:
        os.chdir(cwd)


def test_buildpack_renders_requirements_apt_postbuild_start(tmp_path) -> None:
    detected, text = _render(
        tmp_path,
        {
            "binder/requirements.txt": "six\n",
            "binder/apt.txt": "jq\n",
            "binder/postBuild": "true\n",
            "binder/start": 'exec "$@"\n',
            "requirements.txt": "ignored because binder/ wins\n",
        },
    )
    assert detected
    assert text.lstrip().splitlines()[1] == "FROM site/base:1"
    assert 'pip install --no-cache-dir -r "binder/requirements.txt"' in text
    assert "apt-get install --yes --no-install-recommends jq" in text
    assert 'RUN chmod +x "binder/postBuild" && ./"binder/postBuild"' in text
    assert 'ENV R2D_ENTRYPOINT="${REPO_DIR}/binder/start"' in text
    # the requirements are installed before the rest of the repo is copied (layer cache)
    assert text.index("pip install") < text.index("COPY --chown=1000:1000 src/ ")


@pytest.mark.parametrize(
    "files",
    [
        pytest.param({"environment.yml": "name: x\n"}, id="conda"),
        pytest.param({"binder/Dockerfile": "FROM x\n"}, id="dockerfile"),
        pytest.param({"install.R": "\n", "runtime.txt": "r-4.3-2024-01-01"}, id="r"),
        pytest.param({"Pipfile": ""}, id="pipfile"),
    ],
)
def test_buildpack_leaves_other_kinds_to_repo2docker(tmp_path, files: dict[str, str]) -> None:
    assert _render(tmp_path, files)[0] is False


def test_runtime_txt_must_match_base_python(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"python-3\.9.*python 3\.11"):
        _render(tmp_path, {"runtime.txt": "python-3.9\n"})


def test_runtime_txt_same_python_is_fine(tmp_path) -> None:
    assert _render(tmp_path, {"runtime.txt": "python-3.11\n"})[0]
    assert issubclass(with_python("3.12"), VersaHubBuildPack)


def test_config_defaults_and_validation() -> None:
    config = ImagesConfig()
    assert config.registry is None and config.offline and config.user_id == 1000
    assert config.target_repo_dir == "/srv/repo"
    assert ImagesConfig.from_mapping({"ca_bundle": "/x/*.crt"}).ca_bundle == ("/x/*.crt",)
    with pytest.raises(InputError, match="root"):
        ImagesConfig(user_id=0)  # not a site.yaml key: the one check of the notebook user


def test_registry_config_is_loopback_and_deletable() -> None:
    import yaml

    doc = yaml.safe_load(registry_config("/var/lib/r"))
    assert doc["http"]["addr"] == "127.0.0.1:5000"
    assert doc["storage"]["delete"]["enabled"] is True
    assert doc["storage"]["filesystem"]["rootdirectory"] == "/var/lib/r"


def test_git_env_keeps_only_tls_trust_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from versahub.images.refs import git_env

    monkeypatch.setenv("GIT_SSL_CAINFO", "/etc/site-ca.pem")
    monkeypatch.setenv("GIT_DIR", "/tmp/evil")
    monkeypatch.setenv("GIT_CONFIG_PARAMETERS", "'core.sshCommand'='touch /tmp/x'")
    env = git_env()
    assert env["GIT_SSL_CAINFO"] == "/etc/site-ca.pem"
    assert "GIT_DIR" not in env
    assert "GIT_CONFIG_PARAMETERS" not in env
    assert env["GIT_TERMINAL_PROMPT"] == "0"


def test_engine_state_without_an_engine(tmp_path, monkeypatch) -> None:
    import socket

    from versahub.images import engine

    monkeypatch.setattr(engine, "DOCKER_SOCKET", str(tmp_path / "docker.sock"))
    assert engine.engine_state() == {"state": "absent", "detail": f"no {tmp_path}/docker.sock"}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.bind(str(tmp_path / "docker.sock"))  # bound, never listening: refused
        assert engine.engine_state()["state"] == "down"

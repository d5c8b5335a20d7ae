"""Helpers for the image tests: fixture repos served over git's smart HTTP on loopback.

``GitHTTPServer`` runs ``git http-backend`` behind a tiny CGI bridge and serves the bare
repositories under one folder at ``http://127.0.0.1:<port>/<name>.git``,
read-only (``receive-pack`` is refused), for the image tests; ``GitHTTPSServer`` serves them
behind TLS (``https://``, a certificate of a test CA) for the hub's launches, which refuse
plain ``http`` repositories. Test helper, not product code.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from versahub.images.engine import docker_cli


class _Handler(BaseHTTPRequestHandler):
    root: Path

    def log_message(self, format: str, *args: object) -> None:  # quiet
        pass

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        if "git-receive-pack" in self.path:
            self.send_error(403, "read-only")
            return
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GIT_PROJECT_ROOT": str(self.root),
            "GIT_HTTP_EXPORT_ALL": "1",
            "REQUEST_METHOD": self.command,
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": self.client_address[0],
            "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""),
            "HTTP_CONTENT_ENCODING": self.headers.get("Content-Encoding", ""),
        }
        proc = subprocess.run(
            ["git", "http-backend"], input=body, env=env, capture_output=True, check=False
        )
        head, _, payload = proc.stdout.partition(b"\r\n\r\n")
        if not _:
            head, _, payload = proc.stdout.partition(b"\n\n")
        status = 200
        headers: list[tuple[str, str]] = []
        for line in head.decode("latin-1").splitlines():
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.strip().split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = _cgi
    do_POST = _cgi


class GitHTTPServer:
    """``with GitHTTPServer(root) as srv: srv.url("name")``."""

    def __init__(self, root: Path) -> None:
        handler = type("Handler", (_Handler,), {"root": root})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}.git"

    def __enter__(self) -> GitHTTPServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class GitHTTPSServer(GitHTTPServer):
    """The image tests' ``git http-backend`` bridge, behind TLS."""

    def __init__(self, root: Path, cert: Path, key: Path) -> None:
        super().__init__(root)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self.httpd.socket = context.wrap_socket(self.httpd.socket, server_side=True)

    def url(self, name: str) -> str:
        return f"https://127.0.0.1:{self.port}/{name}.git"


FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "repos"
GIT_ID = ["-c", "user.name=VersaHub Tests", "-c", "user.email=tests@versahub.invalid"]


def git(*args: str, cwd: Path) -> str:
    return subprocess.run(
        ["git", *GIT_ID, *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout.strip()


@dataclass
class FixtureRepo:
    """A work tree whose commits are pushed to a bare repo served over HTTP."""

    name: str
    work: Path
    url: str

    def commit(self, files: dict[str, str] | None = None, message: str = "change") -> str:
        for rel, text in (files or {}).items():
            path = self.work / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
        git("add", "-A", cwd=self.work)
        git("commit", "-q", "--allow-empty", "-m", message, cwd=self.work)
        git("push", "-q", "origin", "HEAD:main", "--tags", cwd=self.work)
        return git("rev-parse", "HEAD", cwd=self.work)

    def tag(self, name: str) -> None:
        git("tag", "-a", name, "-m", name, cwd=self.work)
        git("push", "-q", "origin", name, cwd=self.work)

    @property
    def head(self) -> str:
        return git("rev-parse", "HEAD", cwd=self.work)


@dataclass
class GitSite:
    root: Path
    server: GitHTTPServer

    def repo(self, fixture: str, name: str | None = None) -> FixtureRepo:
        name = name or fixture
        bare = self.root / "srv" / f"{name}.git"
        subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
        work = self.root / "work" / name
        shutil.copytree(FIXTURES / fixture, work)
        git("init", "-q", "-b", "main", cwd=work)
        git("remote", "add", "origin", str(bare), cwd=work)
        repo = FixtureRepo(name=name, work=work, url=self.server.url(name))
        repo.commit(message=f"{fixture} fixture")
        return repo


@dataclass
class FirstBuild:
    repo: FixtureRepo
    events: list[dict]
    second: list[dict]
    builds_after_first: int
    builds_after_second: int

    @property
    def image(self) -> str:
        return self.events[-1]["image"]


def docker_run(image: str, *cmd: str, entrypoint: str | None = None) -> str:
    args = [docker_cli(), "run", "--rm", "--network", "none"]
    if entrypoint is not None:
        args += ["--entrypoint", entrypoint]
    proc = subprocess.run([*args, image, *cmd], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout

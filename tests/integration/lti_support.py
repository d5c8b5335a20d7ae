"""Independent LTI platforms for the LTI login tests (test helper, not product code).

``Platform`` is an LTI 1.3 platform written with ``lti1p3platform`` (PyPI 0.1.8), not with
the tool's code: its own RSA key, a ``Registration`` of VersaHub (issuer, client id,
deployment id, OIDC login URL, target link URI), its JWKS served on a loopback port by
``JwksServer``, the OIDC login initiation URL built by its ``OIDCLogin`` and the id_token
built and signed by its ``MessageLaunch``. The test plays the browser: it follows the
hub's redirect to the platform's authorize URL (never fetched: the platform answers it
in-process) and posts the id_token to the hub's redirect URI, as the platform's
auto-submitted form would.
"""

from __future__ import annotations

import base64
import functools
import json
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract, MessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration

LEARNER = "http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"
INSTRUCTOR = "http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"
CUSTOM = "https://purl.imsglobal.org/spec/lti/claim/custom"
CONTEXT = "https://purl.imsglobal.org/spec/lti/claim/context"
ROLES = "https://purl.imsglobal.org/spec/lti/claim/roles"
RESOURCE_LINK = "https://purl.imsglobal.org/spec/lti/claim/resource_link"


def rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return private, public


class JwksServer:
    """Serves ``GET /<platform>/jwks`` for each platform on 127.0.0.1 (a thread), and takes
    the forms posted back to ``/<platform>/deep-link-return`` (kept in ``returns``)."""

    def __init__(self) -> None:
        self.keysets: dict[str, dict[str, Any]] = {}
        self.returns: list[dict[str, str]] = []
        keysets, returns = self.keysets, self.returns

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                returns.append(dict(parse_qsl(self.rfile.read(length).decode())))
                body = b"<html><body><h1 id='platform-done'>Link added</h1></body></html>"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self) -> None:
                name = self.path.strip("/").split("/")[0]
                body = json.dumps(keysets.get(name, {"keys": []})).encode()
                self.send_response(200 if name in keysets else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _Config(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        return self._registration


class _Login(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class _AuthRequest:
    """What lti1p3platform reads of the browser's authentication request."""

    def __init__(self, query: dict[str, str]) -> None:
        self.get_data = query
        self.form_data: dict[str, str] = {}


class _Launch(MessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class _DeepLinkLaunch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


@dataclass
class Platform:
    """One LMS (issuer, client id, deployment) with its own signing key."""

    name: str
    jwks: JwksServer
    client_id: str
    deployment_id: str
    hub_url: str
    keys: tuple[str, str] = field(default_factory=rsa_pair)

    @property
    def issuer(self) -> str:
        return f"{self.jwks.base}/{self.name}"

    @property
    def authorize_url(self) -> str:
        return f"{self.issuer}/auth"

    @property
    def jwks_url(self) -> str:
        return f"{self.jwks.base}/{self.name}/jwks"

    def __post_init__(self) -> None:
        self.registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(self.client_id)
            .set_deployment_id(self.deployment_id)
            .set_launch_url(f"{self.hub_url}/hub/")
            .set_deeplink_launch_url(f"{self.hub_url}/hub/")
            .set_tool_key_set_url(f"{self.hub_url}/hub/lti13/jwks")
            .set_oidc_login_url(f"{self.hub_url}/hub/lti13/oauth_login")
            .set_platform_private_key(self.keys[0])
            .set_platform_public_key(self.keys[1])
        )
        self.jwks.keysets[self.name] = {"keys": self.registration.get_jwks()}

    @property
    def return_url(self) -> str:
        return f"{self.issuer}/deep-link-return"

    def deep_link_token(
        self, auth_request: dict[str, str], *, user_id: str, roles: list[str],
        context_id: str = "lms-course-1",
    ) -> dict[str, str]:  # fmt: skip
        """The platform's ``LtiDeepLinkingRequest`` for the browser's authentication
        request (as :meth:`id_token`)."""
        launch = _DeepLinkLaunch(_AuthRequest(auth_request), self.config())  # type: ignore[arg-type]
        launch.set_user_data(user_id, roles, full_name=f"User {user_id}",
                             email_address=f"{user_id}@example.org")  # fmt: skip
        launch.set_launch_context_claim(context_id, context_title="Data Science 101")
        launch.set_dl(self.return_url, title="Week 1", accept_types={"ltiResourceLink"},
                      extra_data={"platform-state": "abc123"})  # fmt: skip
        # jupyterhub-ltiauthenticator 1.6.3 requires these claims in a deep-linking request
        # (Moodle and Canvas send them); lti1p3platform leaves them out
        launch.set_extra_claims({
            "azp": self.client_id,
            "https://purl.imsglobal.org/spec/lti/claim/tool_platform": {
                "guid": f"{self.name}-guid", "name": self.name, "product_family_code": "test",
            },
            "https://purl.imsglobal.org/spec/lti/claim/launch_presentation": {
                "document_target": "iframe", "return_url": f"{self.issuer}/course",
            },
        })  # fmt: skip
        return dict(launch.lti_launch())

    def verify_response(self, token: str) -> dict[str, Any]:
        """The tool's deep-linking response, verified with the tool's published key set
        (fetched from the hub by ``lti1p3platform``)."""
        return dict(self.config().tool_validate_and_decode(token))

    def site_entry(self) -> dict[str, Any]:
        """This platform as site.yaml's ``hub.auth.lti13.platforms`` lists it."""
        return {
            "name": self.name,
            "issuer": self.issuer,
            "client_ids": [self.client_id],
            "authorize_url": self.authorize_url,
            "jwks_url": self.jwks_url,
            "deployment_ids": [self.deployment_id],
        }

    def config(self) -> _Config:
        return _Config(registration=self.registration)

    def login_initiation_url(self, user_id: str, *, hint: str = "resource-1") -> str:
        login = _Login(None, self.config())
        login.set_lti_message_hint(hint=hint)
        return str(login.initiate_login(user_id))

    def id_token(
        self,
        auth_request: dict[str, str],
        *,
        user_id: str,
        roles: list[str],
        context_id: str = "course-1",
        custom: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
        expiration: int = 300,
    ) -> dict[str, str]:
        """The platform's answer to the browser's authentication request: ``{"id_token",
        "state", "launch_url"}`` (``launch_url``: the redirect URI the hub asked for)."""
        launch = _Launch(_AuthRequest(auth_request), self.config())  # type: ignore[arg-type]
        launch.set_user_data(user_id, roles, full_name=f"User {user_id}",
                             email_address=f"{user_id}@example.org")  # fmt: skip
        launch.set_resource_link_claim("resource-1", title="Notebook 1")
        launch.set_launch_context_claim(context_id, context_title="Data Science 101",
                                        context_label="DS101")  # fmt: skip
        launch.set_custom_parameters_claim({"course": "ds101"} if custom is None else custom)
        if extra:
            launch.set_extra_claims(extra)
        launch.set_id_token_expiration(expiration)
        return dict(launch.lti_launch())


@dataclass
class Attempt:
    """One LTI 1.3 login through the hub, step by step, in one browser session."""

    hub_url: str
    session: requests.Session = field(default_factory=requests.Session)
    auth_request: dict[str, str] = field(default_factory=dict)

    def initiate(self, url: str) -> requests.Response:
        """The platform's login initiation; on success the hub redirects to authorize_url."""
        r = self.session.get(url, allow_redirects=False, timeout=20)
        if r.status_code == 302:
            self.auth_request = dict(parse_qsl(urlsplit(r.headers["Location"]).query))
        return r

    def callback(self, form: dict[str, str]) -> requests.Response:
        """The platform's auto-submitted form: id_token and state to the redirect URI."""
        target = form["launch_url"]
        assert target.startswith(self.hub_url), target
        data = {"id_token": form["id_token"], "state": form["state"]}
        return self.session.post(target, data=data, allow_redirects=False, timeout=30)

    def logged_in(self) -> bool:
        return any(c.name == "jupyterhub-hub-login" for c in self.session.cookies)


def tamper(id_token: str, **changes: Any) -> str:
    """The id_token with claims changed and the platform's signature kept."""
    header, payload, signature = id_token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims.update(changes)
    raw = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{header}.{raw}.{signature}"


# -- courses ------------------------------------------------------------------------------------
def course_cli(site_file: Any, *args: str) -> subprocess.CompletedProcess[str]:
    """``versahub course …`` as an operator runs it next to the running hub."""
    return subprocess.run(
        [sys.executable, "-m", "versahub", "course", *args, "--site", str(site_file)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def environment_file(folder: Path, repo: str, commit: str, **fields: Any) -> Path:
    """A course environment spec file: a cached image's repository at a commit."""
    path = folder / "environment.yaml"
    path.write_text(json.dumps({"repo": repo, "ref": commit, "internet": True, **fields}))
    return path


class MaterialRepo:
    """A git repository of course material served over git's smart HTTP protocol (``git
    http-backend``, so shallow clones work as nbgitpuller makes them) on ``host`` (the
    address the hub's servers reach the host at)."""

    def __init__(self, root: Path, host: str, files: dict[str, str]) -> None:
        work = root / "material-work"
        work.mkdir(parents=True)
        for name, text in files.items():
            (work / name).write_text(text)
        git = ["git", "-c", "user.name=Teacher", "-c", "user.email=t@example.org"]
        subprocess.run([*git, "init", "-q", "-b", "main", str(work)], check=True)
        subprocess.run([*git, "-C", str(work), "add", "."], check=True)
        subprocess.run([*git, "-C", str(work), "commit", "-q", "-m", "material"], check=True)
        served = root / "served"
        bare = served / "material.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
        handler = functools.partial(_GitBackend, str(served))
        self.server = ThreadingHTTPServer((host, 0), handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/material.git"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class _GitBackend(BaseHTTPRequestHandler):
    """Runs ``git http-backend`` (a CGI program) for each request."""

    def __init__(self, root: str, *args: Any, **kwargs: Any) -> None:
        self.root = root
        super().__init__(*args, **kwargs)

    def _cgi(self) -> None:
        path, _, query = self.path.partition("?")
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        env = {
            "GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
            "QUERY_STRING": query, "REQUEST_METHOD": self.command,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)), "REMOTE_ADDR": self.client_address[0],
            "PATH": "/usr/bin:/bin",
        }  # fmt: skip
        if self.headers.get("Git-Protocol"):
            env["GIT_PROTOCOL"] = self.headers["Git-Protocol"]
        out = subprocess.run(["git", "http-backend"], input=body, env=env,
                             capture_output=True, check=False).stdout  # fmt: skip
        head, _, payload = out.partition(b"\r\n\r\n")
        status = 200
        headers = []
        for line in head.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            if name.lower() == "status":
                status = int(value.split()[0])
            elif name:
                headers.append((name, value.strip()))
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = _cgi

    def log_message(self, *args: Any) -> None:
        pass

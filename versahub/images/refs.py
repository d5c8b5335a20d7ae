"""Resolve a branch, tag or ``HEAD`` to a commit with ``git ls-remote``.

Runs git with no shell, ``--`` before user-supplied arguments, ``GIT_TERMINAL_PROMPT=0``
(a private or missing repository fails instead of asking for a password), no credential
helpers or askpass programs, and a timeout. A full 40-hex commit passes through without any
network access. Never clones, never writes to disk.

Before git connects anywhere, ``check_repo_host`` resolves the repository's host and
refuses loopback, private, link-local (cloud metadata) and unique-local addresses unless the
site's ``policy.allowed_internal_hosts`` allows the host or the address (``hosts.py``); the
builder runs the same check again right before repo2docker clones.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import Awaitable, Callable, Sequence

from versahub.errors import InputError
from versahub.images.hosts import (
    IPAddress,
    address_allowed,
    host_allowed,
    is_internal,
    repo_host,
    resolve_addresses,
)

_COMMIT = re.compile(r"[0-9a-f]{40}")
_SHA_LIKE = re.compile(r"[0-9a-fA-F]{7,40}")
# what git itself refuses in a ref name (git check-ref-format), plus leading "-"
_BAD_REF = re.compile(r"(^-)|(\.\.)|[\x00-\x20\x7f~^:?*\[\\]|(@\{)|(\.lock$)|(^/)|(/$)|(//)")


class RefError(Exception):
    """The ref could not be resolved; ``str(err)`` is a one-line message for people."""


class RefNotFound(RefError):
    """The repository answered but has no such branch or tag."""


class RepoUnreachable(RefError):
    """The repository could not be reached, does not exist, or needs credentials."""


class ResolveTimeout(RefError):
    """``git ls-remote`` did not answer in time."""


class HostRefused(RefError):
    """The repository's host resolves to an internal address the site does not allow."""


Resolver = Callable[[str], Awaitable[list[IPAddress]]]


async def check_repo_host(
    repo: str,
    allowed_internal_hosts: Sequence[str] = (),
    *,
    timeout: float = 30.0,
    resolve: Resolver = resolve_addresses,
) -> None:
    """Refuse ``repo`` when its host resolves to an internal address (``HostRefused``).

    Allowed without resolving: a host that an ``allowed_internal_hosts`` entry names or
    matches as a pattern (as the policy exempts it). Otherwise every address the host
    resolves to must be outside the internal ranges (``hosts.INTERNAL_NETWORKS``) or inside
    an allowed CIDR range. A host that does not resolve in ``timeout`` is
    ``RepoUnreachable``; a URL with no host (a local path) has nothing to resolve, and
    git's ``protocol.file.allow=never`` refuses it.
    """
    host = repo_host(repo)
    if not host or host_allowed(host, allowed_internal_hosts):
        return
    try:
        addresses = await asyncio.wait_for(resolve(host), timeout)
    except TimeoutError:
        raise RepoUnreachable(f"cannot resolve {host}: no answer within {timeout:g} s") from None
    except (OSError, UnicodeError) as err:
        raise RepoUnreachable(f"cannot resolve {host}: {err}") from None
    for address in addresses:
        if is_internal(address) and not address_allowed(address, allowed_internal_hosts):
            raise HostRefused(
                f"the repository host {host} resolves to {address}, an address inside the "
                "hub's own network (loopback, private, link-local or metadata), which builds "
                "may not reach; ask the hub administrators to add it to "
                "policy.allowed_internal_hosts if this server is legitimate"
            )


# Kept from the caller's environment: how to trust the site's forges (a site CA) — git's
# own TLS settings, not anything that changes what or how it fetches.
GIT_PASSTHROUGH = frozenset({"GIT_SSL_CAINFO", "GIT_SSL_CAPATH"})


def git_env() -> dict[str, str]:
    """Environment for git: never prompt, never run a helper, English messages."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in GIT_PASSTHROUGH}
    env.update(
        GIT_TERMINAL_PROMPT="0",
        GIT_ASKPASS="/bin/false",
        SSH_ASKPASS="/bin/false",
        GCM_INTERACTIVE="never",
        GIT_CONFIG_NOSYSTEM="1",
        LC_ALL="C",
    )
    return env


def check_ref(ref: str) -> str:
    """Validate a ref's syntax (raise ``InputError('ref', ...)``); return it stripped."""
    ref = ref.strip()
    if not ref:
        raise InputError("ref", "must not be empty")
    if len(ref) > 255 or _BAD_REF.search(ref):
        raise InputError("ref", f"not a valid git ref: {ref[:60]!r}")
    return ref


def pick_commit(ls_remote_output: str, ref: str) -> str | None:
    """The commit ``ref`` names in ``git ls-remote`` output (pure).

    Preference: exact ``HEAD``; ``refs/heads/<ref>``; the peeled ``refs/tags/<ref>^{}``
    (an annotated tag's commit); ``refs/tags/<ref>``; a fully qualified ``refs/...`` name.
    """
    refs: dict[str, str] = {}
    for line in ls_remote_output.splitlines():
        sha, _, name = line.partition("\t")
        if _COMMIT.fullmatch(sha) and name:
            refs[name] = sha
    candidates = (
        [ref]
        if ref == "HEAD" or ref.startswith("refs/")
        else [f"refs/heads/{ref}", f"refs/tags/{ref}^{{}}", f"refs/tags/{ref}"]
    )
    if ref.startswith("refs/tags/"):
        candidates.insert(0, ref + "^{}")
    for name in candidates:
        if name in refs:
            return refs[name]
    return None


async def resolve_ref(
    repo: str,
    ref: str = "HEAD",
    timeout: float = 30.0,
    *,
    allowed_internal_hosts: Sequence[str] = (),
) -> str:
    """The commit that ``ref`` of ``repo`` names now.

    A full lower-case 40-hex ``ref`` is returned as is (git cannot list commits by id).
    Otherwise the host is checked first (``check_repo_host``, with the site's
    ``allowed_internal_hosts``), then git asked. Raises ``InputError`` for a malformed ref,
    ``HostRefused``, ``RefNotFound``, ``RepoUnreachable`` or ``ResolveTimeout``.
    """
    ref = check_ref(ref)
    if _COMMIT.fullmatch(ref):
        return ref
    await check_repo_host(repo, allowed_internal_hosts, timeout=timeout)
    if _SHA_LIKE.fullmatch(ref) and not _COMMIT.fullmatch(ref.lower()):
        hint = " (abbreviated commits cannot be resolved remotely; give all 40 digits)"
    else:
        hint = ""
    proc = await asyncio.create_subprocess_exec(
        "git",
        "-c",
        "credential.helper=",
        "-c",
        "protocol.file.allow=never",
        "ls-remote",
        "--",
        repo,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=git_env(),
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise ResolveTimeout(f"git ls-remote {repo} did not answer within {timeout:g} s") from None
    if proc.returncode != 0:
        lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
        why = lines[-1].strip() if lines else f"exit status {proc.returncode}"
        raise RepoUnreachable(f"cannot read {repo}: {why}")
    commit = pick_commit(out.decode(errors="replace"), ref)
    if commit is None:
        raise RefNotFound(f"{repo} has no branch or tag {ref!r}{hint}")
    return commit

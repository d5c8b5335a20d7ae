"""Resolve a branch, tag or ``HEAD`` to a commit with ``git ls-remote``.

Runs git with no shell, ``--`` before user-supplied arguments, ``GIT_TERMINAL_PROMPT=0``
(a private or missing repository fails instead of asking for a password), no credential
helpers or askpass programs, and a timeout. A full 40-hex commit passes through without any
network access. Never clones, never writes to disk.
"""

from __future__ import annotations

import asyncio
import os
import re

from versahub.errors import InputError

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


async def resolve_ref(repo: str, ref: str = "HEAD", timeout: float = 30.0) -> str:
    """The commit that ``ref`` of ``repo`` names now.

    A full lower-case 40-hex ``ref`` is returned as is (git cannot list commits by id).
    Raises ``InputError`` for a malformed ref, ``RefNotFound``, ``RepoUnreachable`` or
    ``ResolveTimeout`` otherwise.
    """
    ref = check_ref(ref)
    if _COMMIT.fullmatch(ref):
        return ref
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

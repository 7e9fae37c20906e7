"""Who the analysts are: a configured user list with scrypt password hashes, or a trusted proxy header.

``KYC_ANALYSTS_FILE`` names a JSON file::

    {"analysts": [{"username": "alice", "display_name": "Alice A.", "password_hash": "scrypt$16384$8$1$<salt>$<hash>",
                   "roles": ["analyst", "approver"]}]}

Hashes are produced by :func:`hash_password` (``kyc case hash-password``) with the standard
library's ``hashlib.scrypt`` (memory-hard; no extra dependency). Behind a reverse proxy that
authenticates users, ``KYC_TRUSTED_USER_HEADER`` (e.g. ``X-Forwarded-User``) names the header the
dashboard trusts instead of passwords; the user must still be in the list when a file is configured.

Without a file (local/demo mode) any non-empty name is accepted as an analyst, except names starting
with ``system:`` or ``dagster:`` (reserved for the platform's own audit entries).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
RESERVED_PREFIXES = ("system:", "dagster:")


class AuthenticationError(ValueError):
    """Unknown analyst or wrong password (one line, never says which)."""


@dataclass(frozen=True)
class Analyst:
    username: str
    display_name: str = ""
    roles: tuple[str, ...] = ("analyst",)
    password_hash: str = field(default="", repr=False)
    timezone: str = "UTC"  # IANA name: the dashboard shows times in it


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A self-describing scrypt hash: ``scrypt$N$r$p$<salt b64>$<hash b64>``."""
    if not password:
        raise ValueError("a password must not be empty")
    salt = salt or os.urandom(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.urlsafe_b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the scrypt hash ``stored`` (constant-time comparison)."""
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        expected = base64.urlsafe_b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.urlsafe_b64decode(salt), n=int(n), r=int(r),
                                p=int(p), dklen=len(expected))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)


def valid_name(name: str) -> str:
    """``name`` stripped, when it is an acceptable analyst name; ValueError otherwise."""
    name = (name or "").strip()
    if not name:
        raise AuthenticationError("an analyst name is required")
    if name.lower().startswith(RESERVED_PREFIXES) or not _NAME.match(name):
        raise AuthenticationError(f"{name[:40]!r} is not a valid analyst name")
    return name


class AnalystDirectory:
    """The configured analysts (or, without a file, the open local mode)."""

    def __init__(self, analysts: list[Analyst] | None = None, *, trusted_header: str = ""):
        self.configured = analysts is not None
        self.trusted_header = trusted_header
        self._by_name = {a.username: a for a in (analysts or [])}

    @classmethod
    def from_file(cls, path: str | Path | None, *, trusted_header: str = "") -> AnalystDirectory:
        """The directory of ``path`` (KYC_ANALYSTS_FILE); an open local directory when ``path`` is empty."""
        if not path:
            return cls(None, trusted_header=trusted_header)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            rows = data["analysts"] if isinstance(data, dict) else data
            analysts = [Analyst(username=valid_name(r["username"]), display_name=r.get("display_name", ""),
                                roles=tuple(r.get("roles") or ("analyst",)), password_hash=r.get("password_hash", ""),
                                timezone=r.get("timezone") or "UTC")
                        for r in rows]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"KYC_ANALYSTS_FILE {path}: cannot read the analyst list ({type(exc).__name__})") from exc
        return cls(analysts, trusted_header=trusted_header)

    @classmethod
    def from_env(cls, env=None) -> AnalystDirectory:
        env = os.environ if env is None else env
        return cls.from_file(env.get("KYC_ANALYSTS_FILE", "").strip() or None,
                             trusted_header=env.get("KYC_TRUSTED_USER_HEADER", "").strip())

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def get(self, username: str) -> Analyst:
        """The analyst called ``username`` (known, or any valid name in local mode); AuthenticationError otherwise."""
        name = valid_name(username)
        if not self.configured:
            return Analyst(username=name)
        if name not in self._by_name:
            raise AuthenticationError(f"unknown analyst {name!r}")
        return self._by_name[name]

    def authenticate(self, username: str, password: str | None) -> Analyst:
        """The analyst, when the password matches (always, in local mode without a file)."""
        analyst = self.get(username)
        if self.configured and not verify_password(password or "", analyst.password_hash):
            raise AuthenticationError("unknown analyst or wrong password")
        return analyst

    def from_header(self, value: str | None) -> Analyst:
        """The analyst named by the trusted proxy header (only when KYC_TRUSTED_USER_HEADER is configured)."""
        if not self.trusted_header:
            raise AuthenticationError("no trusted user header is configured")
        return self.get(value or "")

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

Identity is canonical: a name is compared after Unicode NFKC normalisation and case folding, so
``alice``, ``Alice``, ``ALICE`` and ``ａｌｉｃｅ`` are one analyst. With a file the directory decides the
name recorded (its spelling); without one the canonical form is recorded, so a variant of the
proposer's name cannot approve.

Roles (``"roles"`` per analyst in the file; :data:`ANALYST_ROLES`): every listed analyst may read
cases, add notes, assign, decide and export; approving or rejecting a confirmation, approving a SAR
draft and lifting a suppression need ``approver``; purging a case and rotating the PII keys need
``admin`` (:data:`REQUIRED_ROLE`). Without a file (local mode) roles are not enforced: there is no
identity to enforce them on, which is why production refuses to start without one
(``kyc_assets/deployment_checks.py``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1
_NAME = re.compile(r"^[A-Za-z0-9._@+-]{1,100}$")
RESERVED_PREFIXES = ("system:", "dagster:")


ANALYST_ROLES = ("analyst", "approver", "admin")
# Actions that need a role beyond being a listed analyst (audit action names of the store).
REQUIRED_ROLE = {"case_approve": "approver", "case_reject": "approver", "report_approve": "approver",
                 "suppression_lift": "approver", "case_delete": "admin", "pii_keys_rotate": "admin"}
ACTION_WORDS = {"case_approve": "approve a confirmation", "case_reject": "reject a confirmation",
                "report_approve": "approve a SAR draft", "suppression_lift": "lift a suppression",
                "case_delete": "purge a case", "pii_keys_rotate": "rotate the PII keys"}
LOGIN_FAILED = "unknown analyst or wrong password"


class AuthenticationError(ValueError):
    """Unknown analyst or wrong password (one line, never says which)."""


class NotPermitted(AuthenticationError):
    """A known analyst without the role an action needs."""


def canonical(name: str) -> str:
    """The identity key of an analyst name: NFKC-normalised, stripped and case-folded."""
    return unicodedata.normalize("NFKC", name or "").strip().casefold()


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    """A hash no password matches, verified for unknown analysts so that they take as long as known ones."""
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_urlsafe(24)))
    return _DUMMY[0]


@dataclass(frozen=True)
class Analyst:
    username: str
    display_name: str = ""
    roles: tuple[str, ...] = ("analyst",)
    password_hash: str = field(default="", repr=False)
    timezone: str = "UTC"  # IANA name: the dashboard shows times in it

    def has_role(self, role: str) -> bool:
        return role in self.roles


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
    """``name`` NFKC-normalised and stripped, when it is an acceptable analyst name; ValueError otherwise."""
    name = unicodedata.normalize("NFKC", name or "").strip()
    if not name:
        raise AuthenticationError("an analyst name is required")
    if name.lower().startswith(RESERVED_PREFIXES) or not _NAME.match(name):
        raise AuthenticationError(f"{name[:40]!r} is not a valid analyst name")
    return name


class AnalystDirectory:
    """The configured analysts (or, without a file, the open local mode)."""

    def __init__(self, analysts: list[Analyst] | None = None, *, trusted_header: str = "",
                 trusted_roles_header: str = ""):
        self.configured = analysts is not None
        self.trusted_header = trusted_header
        self.trusted_roles_header = trusted_roles_header
        self._by_name: dict[str, Analyst] = {}
        for a in analysts or []:
            key = canonical(a.username)
            if key in self._by_name:
                raise ValueError(f"KYC_ANALYSTS_FILE: {a.username!r} and {self._by_name[key].username!r} are the "
                                 "same analyst (names are compared ignoring case and Unicode variants)")
            unknown = sorted(set(a.roles) - set(ANALYST_ROLES))
            if unknown:
                raise ValueError(f"KYC_ANALYSTS_FILE: {a.username!r} has unknown role(s) {', '.join(unknown)[:60]} "
                                 f"(valid: {', '.join(ANALYST_ROLES)})")
            self._by_name[key] = a

    @classmethod
    def from_file(cls, path: str | Path | None, *, trusted_header: str = "",
                  trusted_roles_header: str = "") -> AnalystDirectory:
        """The directory of ``path`` (KYC_ANALYSTS_FILE); an open local directory when ``path`` is empty."""
        if not path:
            return cls(None, trusted_header=trusted_header, trusted_roles_header=trusted_roles_header)
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            rows = data["analysts"] if isinstance(data, dict) else data
            analysts = [Analyst(username=valid_name(r["username"]), display_name=r.get("display_name", ""),
                                roles=tuple(r.get("roles") or ("analyst",)), password_hash=r.get("password_hash", ""),
                                timezone=r.get("timezone") or "UTC")
                        for r in rows]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"KYC_ANALYSTS_FILE {path}: cannot read the analyst list ({type(exc).__name__})") from exc
        return cls(analysts, trusted_header=trusted_header, trusted_roles_header=trusted_roles_header)

    @classmethod
    def from_settings(cls, settings) -> AnalystDirectory:
        return cls.from_file(settings.analysts_file, trusted_header=settings.trusted_user_header,
                             trusted_roles_header=settings.trusted_roles_header)

    @classmethod
    def from_env(cls, env=None) -> AnalystDirectory:
        from kyc_assets.settings import Settings

        return cls.from_settings(Settings.from_env(os.environ if env is None else env))

    def names(self) -> list[str]:
        return sorted(a.username for a in self._by_name.values())

    def get(self, username: str) -> Analyst:
        """The analyst called ``username`` or a case/Unicode variant of it (known, or any valid name in
        local mode, as its canonical form); AuthenticationError otherwise."""
        name = valid_name(username)
        if not self.configured:
            return Analyst(username=canonical(name), roles=ANALYST_ROLES)
        if canonical(name) not in self._by_name:
            raise AuthenticationError(f"unknown analyst {name!r}")
        return self._by_name[canonical(name)]

    def same(self, a: str | None, b: str | None) -> bool:
        """Whether two recorded names are one analyst (canonical comparison)."""
        return bool(a) and bool(b) and canonical(a) == canonical(b)

    def authenticate(self, username: str, password: str | None) -> Analyst:
        """The analyst, when the password matches (always, in local mode without a file). An unknown or
        invalid name costs one scrypt like a known one and fails with the same message."""
        try:
            analyst = self.get(username)
        except AuthenticationError:
            if not self.configured:
                raise
            analyst = None
        if not self.configured:
            return analyst
        stored = analyst.password_hash if analyst is not None and analyst.password_hash.startswith("scrypt$") \
            else _dummy_hash()
        if not verify_password(password or "", stored) or analyst is None:
            raise AuthenticationError(LOGIN_FAILED)
        return analyst

    def authorise(self, analyst: Analyst | str, action: str) -> Analyst:
        """``analyst`` (a name is looked up) when it may do ``action`` (a store audit action name, see
        :data:`REQUIRED_ROLE`); NotPermitted otherwise. Local mode enforces no role."""
        if isinstance(analyst, str):
            analyst = self.get(analyst)
        role = REQUIRED_ROLE.get(action)
        if role and (self.configured or self.trusted_header) and not analyst.has_role(role):
            raise NotPermitted(f"{analyst.username} does not have the {role} role needed to "
                               f"{ACTION_WORDS.get(action, action)}")
        return analyst

    def from_header(self, value: str | None, roles: str | None = None) -> Analyst:
        """The analyst named by the trusted proxy header (only when KYC_TRUSTED_USER_HEADER is configured).
        With a file, the file's entry (and roles); without one, the roles the proxy sends in
        KYC_TRUSTED_ROLES_HEADER (only :data:`ANALYST_ROLES`; ``analyst`` alone when it sends none)."""
        if not self.trusted_header:
            raise AuthenticationError("no trusted user header is configured")
        analyst = self.get(value or "")
        if self.configured:
            return analyst
        granted = tuple(r for r in ANALYST_ROLES if r in {p.strip().lower() for p in (roles or "").split(",")}) \
            if self.trusted_roles_header else ()
        return Analyst(username=analyst.username, roles=granted or ("analyst",))

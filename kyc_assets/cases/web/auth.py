"""Who is asking, and is this form theirs: signed session cookies, CSRF tokens, analyst identity.

The session is a cookie signed with HMAC-SHA256 (``KYC_SESSION_SECRET``; a random per-process secret
when unset, so sessions end with the server). It holds the analyst (after a password login) and one
CSRF token per session, which every state-changing form must echo back. With a trusted reverse proxy,
``KYC_TRUSTED_USER_HEADER`` names the header that carries the analyst instead of a login.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "kyc_session"
SESSION_MAX_AGE_SECONDS = 12 * 3600
_ANALYST = re.compile(r"^[A-Za-z0-9._@+-]{1,120}$")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Session:
    csrf: str
    analyst: str | None = None
    issued: int = 0
    changed: bool = False


class SessionCodec:
    """Encodes sessions into signed cookie values and back (tampered or expired -> a fresh session)."""

    def __init__(self, secret: str | bytes | None):
        if isinstance(secret, str):
            secret = secret.encode()
        self.key = hashlib.sha256(b"kyc-session:" + (secret or secrets.token_bytes(32))).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        payload = _b64(json.dumps({"c": session.csrf, "a": session.analyst, "t": session.issued},
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._sign(payload)}"

    def loads(self, value: str | None, now: float | None = None) -> Session:
        now = time.time() if now is None else now
        if value and value.count(".") == 1:
            payload, signature = value.split(".")
            if hmac.compare_digest(signature, self._sign(payload)):
                try:
                    data = json.loads(_unb64(payload))
                except ValueError:
                    data = None
                if isinstance(data, dict) and now - int(data.get("t") or 0) < SESSION_MAX_AGE_SECONDS:
                    return Session(csrf=str(data["c"]), analyst=data.get("a"), issued=int(data["t"]))
        return new_session(now)


def new_session(now: float | None = None, analyst: str | None = None) -> Session:
    """A fresh session with a new CSRF token (also after login: the token rotates with the identity)."""
    return Session(csrf=secrets.token_urlsafe(32), analyst=analyst, issued=int(time.time() if now is None else now),
                   changed=True)


def csrf_ok(session: Session, submitted: str | None) -> bool:
    return bool(submitted) and hmac.compare_digest(session.csrf.encode(), str(submitted).encode())


def valid_analyst_name(name: str | None) -> str | None:
    """The analyst name if it is a plausible identifier (letters, digits, ._@+-), else None."""
    name = (name or "").strip()
    return name if _ANALYST.match(name) else None


class Authenticator:
    """Checks an analyst's password through the case store's analyst registry.

    The registry belongs to the case store (hashed passwords); this adapter looks for the first of the
    known entry points and says clearly when none is configured."""

    def __init__(self, store, verify: Callable[[str, str], bool] | None = None):
        self.store = store
        self._verify = verify

    def _entry_point(self) -> Callable[[str, str], object] | None:
        if self._verify is not None:
            return self._verify
        for name in ("authenticate", "verify_analyst", "check_password"):
            fn = getattr(self.store, name, None)
            if callable(fn):
                return fn
        return None

    @property
    def available(self) -> bool:
        return self._entry_point() is not None

    def verify(self, analyst: str, password: str) -> bool:
        fn = self._entry_point()
        if fn is None:
            return False
        try:
            result = fn(analyst, password)
        except ValueError:  # CaseError subclasses: unknown analyst, disabled account...
            return False
        return bool(result) and result is not None

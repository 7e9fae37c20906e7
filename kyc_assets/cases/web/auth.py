"""Who is asking, and is this form theirs: signed session cookies, CSRF tokens, analyst identity,
the trusted reverse proxy, and per-client throttling.

The session is a cookie signed with HMAC-SHA256 (``KYC_SESSION_SECRET``; a random per-process secret
when unset, so sessions end with the server). It holds the analyst and a server-side session id
(after a password login; the id is checked against ``analyst_sessions`` on every request, see
cases/access.py, so logout and the idle timeout end it) and one CSRF token per session, which every
state-changing form must echo back. With a trusted reverse proxy, ``KYC_TRUSTED_USER_HEADER`` names
the header that carries the analyst instead of a login; it is believed only from the addresses of
``KYC_TRUSTED_PROXIES`` or with the proxy's shared secret (``KYC_TRUSTED_PROXY_SECRET`` in
:data:`PROXY_SECRET_HEADER`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import re
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

COOKIE = "kyc_session"
PROXY_SECRET_HEADER = "X-KYC-Proxy-Secret"
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
    sid: str | None = None  # the server-side session id (cases/access.py), with an analyst only


class SessionCodec:
    """Encodes sessions into signed cookie values and back (tampered or expired -> a fresh session)."""

    def __init__(self, secret: str | bytes | None):
        if isinstance(secret, str):
            secret = secret.encode()
        self.key = hashlib.sha256(b"kyc-session:" + (secret or secrets.token_bytes(32))).digest()

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self.key, payload.encode(), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        payload = _b64(json.dumps({"c": session.csrf, "a": session.analyst, "t": session.issued, "s": session.sid},
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
                    return Session(csrf=str(data["c"]), analyst=data.get("a"), issued=int(data["t"]),
                                   sid=data.get("s"))
        return new_session(now)


def new_session(now: float | None = None, analyst: str | None = None, sid: str | None = None) -> Session:
    """A fresh session with a new CSRF token (also after login: the token rotates with the identity)."""
    return Session(csrf=secrets.token_urlsafe(32), analyst=analyst, issued=int(time.time() if now is None else now),
                   changed=True, sid=sid)


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


class ProxyTrust:
    """Whether a request really comes through the authenticating reverse proxy: its TCP peer is one of
    ``proxies`` (addresses or networks), or it carries the proxy's shared ``secret``."""

    def __init__(self, proxies: tuple[str, ...] | list[str] = (), secret: str | None = None):
        self.networks = [ipaddress.ip_network(p, strict=False) for p in proxies]
        self.secret = secret or None

    @property
    def configured(self) -> bool:
        return bool(self.networks or self.secret)

    def trusted(self, peer: str | None, secret_header: str | None) -> bool:
        if self.secret and secret_header and hmac.compare_digest(self.secret.encode(), secret_header.encode()):
            return True
        try:
            address = ipaddress.ip_address(peer or "")
        except ValueError:
            return False
        return any(address in network for network in self.networks)


class ClientLimiter:
    """At most ``limit`` events per client address within ``window`` seconds (in memory, per process):
    failed sign-ins and refused anonymous posts. ``hit`` counts one and says whether the client is
    still under the limit; ``blocked`` only looks."""

    def __init__(self, limit: int, window: float, max_clients: int = 100_000):
        self.limit, self.window, self.max_clients = int(limit), float(window), max_clients
        self._events: dict[str, deque] = {}
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque:
        events = self._events.get(client)
        if events is None:
            if len(self._events) >= self.max_clients:  # bounded memory: forget the quiet ones
                self._events = {c: e for c, e in self._events.items() if e and now - e[-1] < self.window}
            events = self._events[client] = deque()
        while events and now - events[0] >= self.window:
            events.popleft()
        return events

    def blocked(self, client: str, now: float | None = None) -> bool:
        now = time.monotonic() if now is None else now
        with self._lock:
            return len(self._recent(client, now)) >= self.limit

    def hit(self, client: str, now: float | None = None) -> bool:
        """Count one event; True while the client is within the limit (this event included)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            events = self._recent(client, now)
            events.append(now)
            return len(events) <= self.limit

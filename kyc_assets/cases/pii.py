"""At-rest encryption of the case store's PII columns (subject name, date of birth, document number).

Keys come from ``KYC_CASE_KEYS``: comma-separated Fernet keys, newest first. Values are encrypted
under the newest key and read with any of them (:class:`cryptography.fernet.MultiFernet`), so a
key is rotated by prepending a new one, running ``kyc case rotate-keys`` (re-encrypts every value
under the newest key) and then dropping the old one.

There is no default key. Without one the store keeps **no** PII in the case store at all (the
columns stay NULL; cases still carry the subject id, and the warehouse tables remain the
source of the customer's profile). This is the local/demo mode; ``KYC_DEPLOYMENT=production``
refuses to start without ``KYC_CASE_KEYS`` (see settings.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

KEYS_ENV_VAR = "KYC_CASE_KEYS"
PII_FIELDS = ("subject_name", "subject_dob", "subject_document_number")  # column = field + "_enc"


class PiiKeyError(ValueError):
    """A key is malformed, or a stored value cannot be read with the configured keys."""


def parse_keys(keys: str | Sequence[str] | None) -> list[str]:
    """Fernet keys from a comma-separated string (or a list), newest first; blanks ignored."""
    if keys is None:
        return []
    parts = keys.split(",") if isinstance(keys, str) else list(keys)
    return [p.strip() for p in parts if p and p.strip()]


class PiiCipher:
    """Encrypts and decrypts PII values with the configured keys (newest first)."""

    def __init__(self, keys: str | Sequence[str] | None):
        parsed = parse_keys(keys)
        if not parsed:
            raise PiiKeyError(f"{KEYS_ENV_VAR} holds no key")
        try:
            self._fernet = MultiFernet([Fernet(k.encode()) for k in parsed])
        except (ValueError, TypeError) as exc:
            raise PiiKeyError(f"{KEYS_ENV_VAR}: every key must be a url-safe base64 32-byte Fernet key") from exc

    @classmethod
    def maybe(cls, keys: str | Sequence[str] | None) -> PiiCipher | None:
        """A cipher when keys are configured, else None (the store then keeps no PII)."""
        return cls(keys) if parse_keys(keys) else None

    def encrypt(self, value: str | None) -> str | None:
        return None if value in (None, "") else self._fernet.encrypt(str(value).encode()).decode()

    def decrypt(self, token: str | None) -> str | None:
        """The plaintext of ``token``; PiiKeyError when no configured key opens it."""
        if token is None:
            return None
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken as exc:
            raise PiiKeyError(f"a stored PII value cannot be decrypted with the keys in {KEYS_ENV_VAR}") from exc

    def rotate(self, token: str | None) -> str | None:
        """``token`` re-encrypted under the newest key."""
        if token is None:
            return None
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken as exc:
            raise PiiKeyError(f"a stored PII value cannot be decrypted with the keys in {KEYS_ENV_VAR}") from exc

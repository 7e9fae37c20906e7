"""Production refuses to run unsafe: the one check the dashboard (``kyc serve``), the CLI's case
commands and the Dagster definitions run before they start (plain Python, no Dagster).

With ``KYC_DEPLOYMENT=production`` each of these stops the start with a one-line message naming the
setting to fix:

- nobody is authenticated: neither an analyst list (``KYC_ANALYSTS_FILE``) nor a trusted reverse
  proxy (``KYC_TRUSTED_USER_HEADER``, from ``KYC_TRUSTED_PROXIES`` or with ``KYC_TRUSTED_PROXY_SECRET``)
  is configured, so anyone could sign in under any name and four-eyes would mean nothing;
- the case store is a SQLite file (``KYC_DATABASE_URL``): no separate database role, no triggers
  protecting the audit log, one writer;
- the case store's PII key is missing (``KYC_CASE_KEYS``): the cases would carry no subject names, or
  (worse, with a later key) a mix.

Local mode (the default) is unaffected: it is the demo, and says so on every dashboard page.
"""

from __future__ import annotations


class UnsafeDeployment(ValueError):
    """A production start refused; ``str(exc)`` is one line naming the settings to fix."""


def production_problems(settings) -> list[str]:
    """What is unsafe about ``settings`` (a :class:`kyc_assets.settings.Settings`) in production; [] when
    the deployment is local or nothing is."""
    if settings.deployment != "production":
        return []
    problems = []
    if not settings.analysts_file and not settings.trusted_user_header:
        problems.append("set KYC_ANALYSTS_FILE (analysts with password hashes) or KYC_TRUSTED_USER_HEADER "
                        "behind a reverse proxy (KYC_TRUSTED_PROXIES)")
    if settings.database_url.strip().lower().startswith("sqlite"):
        problems.append("KYC_DATABASE_URL must be PostgreSQL, not SQLite")
    if not settings.case_keys_set:
        problems.append("set KYC_CASE_KEYS (the Fernet keys of the case store's personal data)")
    return problems


def check_deployment(settings) -> None:
    """Raise :class:`UnsafeDeployment` (one line) when production would run unsafe; nothing otherwise."""
    problems = production_problems(settings)
    if problems:
        raise UnsafeDeployment("KYC_DEPLOYMENT=production refuses to start: " + "; ".join(problems))

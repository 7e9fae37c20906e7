"""The review dashboard (`kyc serve`): case queue, case pages with their evidence, four-eyes decisions."""

from kyc_assets.cases.web.app import WebConfig, config_from_env, create_app, serve

__all__ = ["WebConfig", "config_from_env", "create_app", "serve"]

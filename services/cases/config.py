"""cases configuration, from the environment."""
from __future__ import annotations

from shared.config import Settings


def load_settings() -> Settings:
    return Settings.from_env().require("SECRET_KEY", "BROKER_URL", "CASES_DATABASE_URL")

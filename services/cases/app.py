"""The cases Flask application."""
from __future__ import annotations

from flask import Flask

from services.cases.config import load_settings
from shared.web import service_app


def create_app(config: dict | None = None) -> Flask:
    from services.cases.api import register_api

    settings = load_settings()
    return service_app(__name__, "cases", settings, settings.cases_database_url, config,
                       before_handlers=register_api)

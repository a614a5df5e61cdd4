"""The cases Flask application."""
from __future__ import annotations

from flask import Flask

from services.cases.config import load_report_mail, load_settings
from shared.web import service_app


def create_app(config: dict | None = None) -> Flask:
    from services.cases.api import register_api
    from services.cases.dashboard import page

    settings = load_settings()
    app = service_app(__name__, "cases", settings, settings.cases_database_url,
                      {"CASES_REPORT_MAIL": load_report_mail(), **(config or {})}, before_handlers=register_api)
    app.register_blueprint(page.blp)
    return app

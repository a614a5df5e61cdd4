"""The cases Flask application."""
from __future__ import annotations

from flask import Flask

from services.cases.config import load_settings
from shared.db import database_ready, make_engine
from shared.logs import configure_logging
from shared.messaging import broker_ready
from shared.web import health_blueprint, install_correlation_id, install_error_handlers


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings()
    configure_logging("cases", settings.log_level)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, SETTINGS=settings, MAX_CONTENT_LENGTH=1 << 20)
    app.config.update(config or {})
    # Engines connect lazily, so building one here is safe before gunicorn forks.
    engine = make_engine(app.config.get("DATABASE_URL", settings.cases_database_url))
    app.extensions["cases.db"] = engine
    from services.cases.api import register_api

    register_api(app)
    # After the API: our handlers render every error in the one shape, smorest's included.
    install_error_handlers(app)
    install_correlation_id(app)
    app.register_blueprint(health_blueprint({
        "database": lambda: database_ready(engine),
        "broker": lambda: broker_ready(settings.broker_url),
    }))
    return app

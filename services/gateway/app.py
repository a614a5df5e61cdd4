"""The gateway Flask application."""
from __future__ import annotations

from flask import Flask

from services.gateway.config import load_settings
from shared.db import database_ready, make_engine
from shared.logs import configure_logging
from shared.messaging import broker_ready
from shared.web import health_blueprint, install_correlation_id, install_error_handlers

# Provider webhooks are small; anything larger is refused with 413 before it is read.
MAX_WEBHOOK_BYTES = 64 * 1024


def create_app(config: dict | None = None) -> Flask:
    settings = load_settings()
    configure_logging("gateway", settings.log_level)
    app = Flask(__name__)
    app.config.update(SECRET_KEY=settings.secret_key, SETTINGS=settings, MAX_CONTENT_LENGTH=MAX_WEBHOOK_BYTES)
    app.config.update(config or {})
    engine = make_engine(app.config.get("DATABASE_URL", settings.gateway_database_url))
    app.extensions["gateway.db"] = engine
    install_error_handlers(app)
    install_correlation_id(app)
    app.register_blueprint(health_blueprint({
        "database": lambda: database_ready(engine),
        "broker": lambda: broker_ready(settings.broker_url),
    }))
    from services.gateway.interpret_api import bp as interpret_bp
    from services.gateway.sendgrid.events import bp as sendgrid_events_bp
    from services.gateway.sendgrid.inbound import bp as sendgrid_inbound_bp
    from services.gateway.webhooks import bp as webhooks_bp

    app.register_blueprint(webhooks_bp)
    app.register_blueprint(sendgrid_events_bp)
    app.register_blueprint(sendgrid_inbound_bp)
    app.register_blueprint(interpret_bp)
    return app

"""The gateway Flask application."""
from __future__ import annotations

from flask import Flask

from services.gateway.config import load_settings
from shared.web import service_app

# Provider webhooks are small; anything larger is refused with 413 before it is read.
MAX_WEBHOOK_BYTES = 64 * 1024


def create_app(config: dict | None = None) -> Flask:
    from services.gateway.interpret_api import bp as interpret_bp
    from services.gateway.sendgrid.events import bp as sendgrid_events_bp
    from services.gateway.sendgrid.inbound import bp as sendgrid_inbound_bp
    from services.gateway.webhooks import bp as webhooks_bp

    settings = load_settings()
    app = service_app(__name__, "gateway", settings, settings.gateway_database_url, config,
                      max_body=MAX_WEBHOOK_BYTES)
    for blueprint in (webhooks_bp, sendgrid_events_bp, sendgrid_inbound_bp, interpret_bp):
        app.register_blueprint(blueprint)
    return app

"""The gateway Flask application."""
from __future__ import annotations

from flask import Flask
from flask.sessions import SessionInterface

from services.gateway.config import faq_cache_seconds, faq_match_threshold, load_settings, trusted_proxies
from shared.web import service_app

# Provider webhooks are small; anything larger is refused with 413 before it is read.
MAX_WEBHOOK_BYTES = 64 * 1024
# No pre-ping: it is one more round trip on every webhook. A connection that went stale (the
# database restarted) fails its one request with 503, the pool drops every stale connection at
# once, and the provider retries the webhook.
ENGINE_OPTIONS = {"pool_pre_ping": False}



class NoSessions(SessionInterface):
    """The gateway keeps no cookie sessions: providers send none, and the reply form signs its own
    field. Skipping Flask's signed-cookie session saves every webhook building a signer."""

    def open_session(self, app, request):
        return None  # Flask then hands the request a null session

    def save_session(self, app, session, response):
        return None


API_SPEC = {
    "API_TITLE": "gateway: owners' replies", "API_VERSION": "v1", "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1", "OPENAPI_JSON_PATH": "openapi.json",
}


def register_api(app: Flask) -> None:
    """The staff API described at /api/v1/openapi.json (the FAQ); webhooks stay plain blueprints."""
    from flask_smorest import Api

    from services.gateway.faq.api import blp as faq_blp
    from services.gateway.faq.entries import EntriesCache

    for key, value in API_SPEC.items():
        app.config.setdefault(key, value)
    app.config.setdefault("FAQ_MATCH_THRESHOLD", faq_match_threshold())
    app.config.setdefault("FAQ_CACHE_SECONDS", faq_cache_seconds())
    app.extensions["gateway.faq"] = EntriesCache(app.config["FAQ_CACHE_SECONDS"])
    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "staffToken": {"type": "http", "scheme": "bearer"}}}})
    api.register_blueprint(faq_blp)


def create_app(config: dict | None = None) -> Flask:
    from services.gateway.interpret_api import bp as interpret_bp
    from services.gateway.reply_form import bp as reply_form_bp
    from services.gateway.sendgrid.events import bp as sendgrid_events_bp
    from services.gateway.sendgrid.inbound import bp as sendgrid_inbound_bp
    from services.gateway.webhooks import bp as webhooks_bp

    settings = load_settings()
    app = service_app(__name__, "gateway", settings, settings.gateway_database_url, config,
                      max_body=MAX_WEBHOOK_BYTES, before_handlers=register_api, engine_options=ENGINE_OPTIONS)
    app.session_interface = NoSessions()
    # Behind a load balancer every request comes from its address: the reply form's per-address
    # limit must read the client's address from the header the trusted proxies append.
    hops = app.config.setdefault("TRUSTED_PROXIES", trusted_proxies())
    if hops:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=0, x_host=0, x_port=0, x_prefix=0)
    for blueprint in (webhooks_bp, sendgrid_events_bp, sendgrid_inbound_bp, interpret_bp, reply_form_bp):
        app.register_blueprint(blueprint)
    return app

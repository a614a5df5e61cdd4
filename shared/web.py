"""Flask glue every service uses: the one JSON error shape, health checks, correlation ids."""
from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from http import HTTPStatus

from flask import Blueprint, Flask, Response, current_app, g, jsonify, request
from marshmallow import ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError

from shared.logs import bind_correlation_id, reset_correlation_id

log = logging.getLogger(__name__)
CORRELATION_HEADER = "X-Correlation-ID"
WEBHOOK_PREFIX = "/webhooks/"  # refusals here are counted as webhook rejections, by reason
METRICS_COLLECTORS = "metrics.collectors"  # app.extensions key: collectors read when /metrics is scraped


def error_response(status: int, message: str | None = None, errors: dict | None = None):
    """The one error shape: {code, status, message, errors}."""
    try:
        name = HTTPStatus(status).phrase
    except ValueError:
        name = "Error"
    body = {"code": status, "status": name, "message": message or name, "errors": _text_keys(errors or {})}
    return jsonify(body), status


def _text_keys(errors):
    """marshmallow keys a list's item errors by index (an int) beside "_schema" for the list itself;
    JSON keys are text, and mixed int and str keys cannot even be sorted to be written."""
    if isinstance(errors, dict):
        return {str(key): _text_keys(value) for key, value in errors.items()}
    if isinstance(errors, list):
        return [_text_keys(item) for item in errors]
    return errors


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(ValidationError)
    def invalid(exc: ValidationError):
        return error_response(422, "The request body is not valid.", _as_dict(exc.messages))

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        # webargs (flask-smorest) puts validation messages, keyed by location, on `data`.
        data = getattr(exc, "data", None) or {}
        errors = data.get("errors") or data.get("messages")
        body, status = error_response(exc.code or 500, data.get("message") or exc.description,
                                      _as_dict(errors) if errors else None)
        # Keep what the exception says about itself, e.g. `Allow` on a 405.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                body.headers[name] = value
        return body, status

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, InternalServerError.description)


_LOCATIONS = {"json", "query", "form", "files", "headers", "path", "view_args", "cookies", "querystring"}


def _as_dict(messages) -> dict:
    """Field -> messages; webargs' single location wrapper ({"json": {...}}) is taken off."""
    if not isinstance(messages, dict):
        return {"_schema": messages}
    if len(messages) == 1:
        (location, inner), = messages.items()
        if location in _LOCATIONS and isinstance(inner, dict):
            return inner
    return messages


NUL = "\x00"
MAX_JSON_DEPTH = 64  # no request body of ours nests deeper; a deeper one is refused before anything walks it


def install_input_guards(app: Flask) -> None:
    """Refuse, in the one error shape, what no endpoint can take but a database would choke on.

    A NUL character fits no name or id and PostgreSQL cannot store it in text (it would fail the
    request with 500 mid-transaction): in the path it names nothing (404); in the query or a JSON
    body it is a 422 naming the field. A JSON body nested past what Python's parser can take is
    a 400. Webhooks keep their own checks (their bodies are the providers' formats, signed). A
    body larger than the app's limit is left to the view that raised its own (imports).
    """

    @app.before_request
    def refuse_unusable_input():
        if NUL in request.path:
            return error_response(404, "Nothing here: the path holds a NUL character.")
        if request.path.startswith(WEBHOOK_PREFIX):
            return None
        bad = {name.replace(NUL, "\\0"): ["Must not contain a NUL character."]
               for name, value in request.args.items(multi=True) if NUL in name or NUL in value}
        if bad:
            return error_response(422, "The query holds a NUL character.", bad)
        limit = request.max_content_length
        if request.is_json and request.content_length and (limit is None or request.content_length <= limit):
            try:
                body = request.get_json(silent=True)
            except RecursionError:
                return error_response(400, "The JSON body is nested too deeply.")
            found = _unusable_json(body)
            if found == "deep":
                return error_response(400, "The JSON body is nested too deeply.")
            if found is not None:
                return error_response(422, "The request body is not valid.",
                                      _nested(found, ["Must not contain a NUL character."]))
        return None


def _unusable_json(body):
    """The path to the first string (or key) holding NUL, "deep" past MAX_JSON_DEPTH, else None.

    Walked with a stack, not recursion, so a deep body cannot exhaust the interpreter's."""
    stack = [((), body)]
    while stack:
        path, value = stack.pop()
        if len(path) > MAX_JSON_DEPTH:
            return "deep"
        if isinstance(value, str):
            if NUL in value:
                return path
        elif isinstance(value, dict):
            for key, item in value.items():
                if NUL in key:
                    return (*path, key.replace(NUL, "\\0"))
                stack.append(((*path, key), item))
        elif isinstance(value, list):
            stack.extend(((*path, str(index)), item) for index, item in enumerate(value))
    return None


def _nested(path: tuple, messages: list) -> dict:
    """("owner", "name") -> {"owner": {"name": messages}}, like marshmallow's nested errors."""
    if not path:
        return {"_schema": messages}
    errors: dict | list = messages
    for key in reversed(path):
        errors = {key: errors}
    return errors


def install_correlation_id(app: Flask) -> None:
    @app.before_request
    def bind():
        value = request.headers.get(CORRELATION_HEADER, "")[:128] or str(uuid.uuid4())
        g.correlation_token = bind_correlation_id(value)
        g.correlation_id = value

    @app.after_request
    def echo(response):
        response.headers[CORRELATION_HEADER] = g.get("correlation_id", "")
        return response

    @app.teardown_request
    def unbind(_exc):
        token = g.pop("correlation_token", None)
        if token is not None:
            reset_correlation_id(token)


def install_request_metrics(app: Flask) -> None:
    """Count and time every request, labelled by its URL rule (never the raw path, which holds ids)."""
    from shared import metrics

    @app.before_request
    def start_clock():
        g.request_started = time.perf_counter()

    @app.after_request
    def observe(response):
        # A request another before_request hook answered (a 415, a 401) never started the clock:
        # it is counted, not timed.
        started = g.pop("request_started", None)
        endpoint = request.url_rule.rule if request.url_rule is not None else "<unmatched>"
        metrics.http_requests().labels(request.method, endpoint, str(response.status_code)).inc()
        if response.status_code >= 400 and request.path.startswith(WEBHOOK_PREFIX):
            metrics.record_webhook_rejection(metrics.webhook_rejection_reason(response.status_code), endpoint)
        if started is not None:
            metrics.http_latency().labels(request.method, endpoint).observe(time.perf_counter() - started)
        return response


def metrics_blueprint() -> Blueprint:
    """`/metrics` in Prometheus text format (every process of the service in multiprocess mode)."""
    from shared import metrics

    blueprint = Blueprint("metrics", __name__)

    @blueprint.get("/metrics")
    def exposition():
        body, content_type = metrics.exposition(current_app.extensions.get(METRICS_COLLECTORS, ()))
        return Response(body, content_type=content_type)

    return blueprint


def health_blueprint(checks: dict[str, Callable[[], bool]]) -> Blueprint:
    """`/healthz` says the process is alive; `/readyz` checks its broker and database."""
    health = Blueprint("health", __name__)

    @health.get("/healthz")
    def healthz():
        return jsonify(status="ok")

    @health.get("/readyz")
    def readyz():
        results = {name: check() for name, check in checks.items()}
        ready = all(results.values())
        body = {"status": "ready" if ready else "unavailable",
                "checks": {k: "ok" if v else "down" for k, v in results.items()}}
        return jsonify(body), 200 if ready else 503

    return health


def service_app(import_name: str, service: str, settings, database_url: str, config: dict | None,
                max_body: int = 1 << 20, before_handlers=None, engine_options: dict | None = None) -> Flask:
    """The Flask app every service starts from: config, its own database, errors, health.

    `before_handlers(app)` registers what must come before our error handlers (flask-smorest's
    Api installs its own, which ours then replace). Engines connect lazily, so building one here
    is safe before gunicorn forks.
    """
    from shared.db import database_ready, make_engine
    from shared.logs import configure_logging
    from shared.messaging import broker_ready

    configure_logging(service, settings.log_level)
    app = Flask(import_name)
    app.config.update(SECRET_KEY=settings.secret_key, SETTINGS=settings, MAX_CONTENT_LENGTH=max_body)
    app.config.update(config or {})
    engine = make_engine(app.config.get("DATABASE_URL", database_url), **(engine_options or {}))
    app.extensions[f"{service}.db"] = engine
    if before_handlers is not None:
        before_handlers(app)
    install_error_handlers(app)
    install_correlation_id(app)
    install_request_metrics(app)
    install_input_guards(app)
    app.register_blueprint(metrics_blueprint())
    app.register_blueprint(health_blueprint({
        "database": lambda: database_ready(engine),
        "broker": lambda: broker_ready(settings.broker_url),
    }))
    return app

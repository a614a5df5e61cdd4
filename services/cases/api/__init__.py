"""The cases REST API under /api/v1, described by the OpenAPI document at /api/v1/openapi.json."""
from __future__ import annotations

from flask import Flask, request
from flask_smorest import Api

from shared.schemas import document_fields
from shared.web import error_response

API_SPEC = {
    "API_TITLE": "cases: property-fee collection",
    "API_VERSION": "v1",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v1",
    "OPENAPI_JSON_PATH": "openapi.json",
}


def register_api(app: Flask) -> Api:
    for key, value in API_SPEC.items():
        app.config.setdefault(key, value)
    api = Api(app, spec_kwargs={"components": {"securitySchemes": {
        "staffToken": {"type": "http", "scheme": "bearer"}}}})
    document_fields(api)
    from services.cases.api import (
        assignments,
        auth,
        campaigns,
        cases,
        communities,
        dashboard,
        groups,
        imports,
        inbox,
        issues,
        ops,
        payments,
        reports,
        staff,
        sweep,
        tasks,
        timeline,
    )

    for module in (cases, communities, issues, payments, sweep, imports, auth, staff, groups, assignments,
                   reports, timeline, campaigns, tasks, dashboard, inbox, ops):
        api.register_blueprint(module.blp)

    @app.before_request
    def bodies_are_json():
        if request.method in ("POST", "PUT", "PATCH") and request.path.startswith("/api/") \
                and request.content_length and not request.is_json and not request.path.startswith("/api/v1/imports"):
            return error_response(415, "Send the body as application/json.")
        return None

    return api

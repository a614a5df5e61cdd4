"""The cases REST API under /api/v1/cases."""
from __future__ import annotations

from flask import Blueprint, abort, current_app, g, jsonify, request, url_for

from services.cases import handlers, queries
from services.cases.schemas import CaseOut, OpenCaseIn, PageIn
from shared.auth import require_staff
from shared.web import error_response

bp = Blueprint("cases", __name__, url_prefix="/api/v1/cases")


def _engine():
    return current_app.extensions["cases.db"]


def _json_body():
    if not request.is_json:
        abort(415, "Send the body as application/json.")
    body = request.get_json(silent=True)
    if body is None:
        abort(400, "The body is not valid JSON.")
    return body


@bp.post("")
@require_staff("collector", "supervisor", "manager")
def open_case():
    command = OpenCaseIn().load(_json_body())
    if not g.staff.can_see(command.community):
        return error_response(403, "You do not work in this community.")
    with _engine().begin() as connection:
        case_id = handlers.open_case(connection, command, g.staff.sub)
    with _engine().connect() as connection:
        detail = queries.case_detail(connection, case_id)
    response = jsonify(CaseOut().dump(detail))
    response.status_code = 201
    response.headers["Location"] = url_for("cases.show_case", case_id=case_id)
    return response


@bp.get("/<case_id>")
@require_staff()
def show_case(case_id: str):
    with _engine().connect() as connection:
        detail = queries.case_detail(connection, case_id)
    # Another community's case is indistinguishable from a missing one.
    if detail is None or not g.staff.can_see(detail["community"]):
        return error_response(404, "No such case.")
    return jsonify(CaseOut().dump(detail))


@bp.get("")
@require_staff()
def list_cases():
    page = PageIn().load(request.args.to_dict())
    communities = None if g.staff.role == "admin" else g.staff.communities
    with _engine().connect() as connection:
        items, total = queries.case_page(connection, communities, page["page"], page["per_page"])
    return jsonify(
        items=CaseOut(only=("id", "community", "amount_owed", "status", "stage", "opened_at"),
                      many=True).dump(items),
        page=page["page"], per_page=page["per_page"], total=total,
    )

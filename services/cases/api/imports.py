"""CSV and JSON imports of owners, units, the fee ledger and payments.

Send a CSV file (UTF-8, with or without the BOM Excel writes) as the multipart field `file` or
as a raw `text/csv` body, or JSON `{"rows": [{column: value}, ...]}`; columns may carry their
Chinese names. Every row is checked. Good rows are applied in one transaction and bad rows come
back with their line (the header is line 1; in JSON the first row is 1) and reasons. With
`all_or_nothing=true` one bad row refuses the whole import (422, nothing written); `dry_run=true`
runs the import and rolls it back, so its counts say what would happen.
"""
from __future__ import annotations

from flask import current_app, g, request
from flask_smorest import Blueprint, abort
from marshmallow import Schema, fields

from services.cases import imports
from services.cases.api.common import engine, now
from services.cases.imports.reading import PROBLEMS
from shared.auth import require_staff
from shared.schemas import StrictSchema

blp = Blueprint("imports", __name__, url_prefix="/api/v1/imports", description="Imports")

# A 100,000-row ledger is about 15 MB as CSV and 35 MB as JSON; the app's 1 MiB limit is for
# everything else. IMPORT_MAX_CONTENT_LENGTH in the app config overrides it.
IMPORT_MAX_CONTENT_LENGTH = 64 << 20
CSV_TYPES = ("text/csv", "application/csv")


class ImportArgs(StrictSchema):
    dry_run = fields.Bool(load_default=False)
    all_or_nothing = fields.Bool(load_default=False)


class RowsIn(StrictSchema):
    rows = fields.List(fields.Raw(), required=True)


class BadRowOut(Schema):
    line = fields.Int()
    errors = fields.Dict(keys=fields.Str(), values=fields.List(fields.Str()))


class ImportOut(Schema):
    kind = fields.Str()
    dry_run = fields.Bool()
    applied = fields.Bool(metadata={"description": "False for a dry run, or when no row could be applied."})
    rows = fields.Int()
    inserted = fields.Int()
    updated = fields.Int()
    unchanged = fields.Int(metadata={"description": "For payments: receipts already recorded."})
    bad = fields.Int()
    cases_opened = fields.Int()
    cases_updated = fields.Int()
    cases_closed = fields.Int()
    bad_rows = fields.List(fields.Nested(BadRowOut))


def _body(columns: str) -> dict:
    csv_file = {"type": "string", "description": f"CSV, header row first; columns: {columns}"}
    return {"required": True, "content": {
        "text/csv": {"schema": csv_file},
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {**csv_file, "format": "binary"}}}},
        "application/json": {"schema": RowsIn},
    }}


LEDGER_COLUMNS = ("community/小区, building/楼栋, unit/房号, owner_ref/业主编号, owner_name/业主姓名, "
                  "phones/电话 (; or /), emails/邮箱, locale/语言 (zh-CN|en), key_owner/核心业主 (yes/no), "
                  "fee_period/费用期间, amount_due/应收金额, due_date/到期日 (YYYY-MM-DD), amount_paid/已收金额")
PAYMENT_COLUMNS = "community/小区, building/楼栋, unit/房号, receipt/收据号, amount/金额, paid_on/缴费日期"


@blp.post("/ledger")
@require_staff("supervisor", "manager")
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ImportOut)
@blp.doc(requestBody=_body(LEDGER_COLUMNS))
def import_ledger(args):
    """Import owners, their units and fee periods; refresh the cases of every owner in the file."""
    return _import(imports.LEDGER, args)


@blp.post("/payments")
@require_staff("supervisor", "manager")
@blp.arguments(ImportArgs, location="query")
@blp.response(200, ImportOut)
@blp.doc(requestBody=_body(PAYMENT_COLUMNS))
def import_payments(args):
    """Import payments, once per receipt number; a payment that clears a case closes it."""
    return _import(imports.PAYMENTS, args)


def _import(kind: str, args: dict) -> imports.ImportReport:
    # Before anything reads the body: Flask 3.1 lets one view raise its own limit.
    request.max_content_length = current_app.config.get("IMPORT_MAX_CONTENT_LENGTH",
                                                        IMPORT_MAX_CONTENT_LENGTH)
    try:
        report = imports.run_import(engine(), kind, _without_nul(_rows(kind)), now=now(), actor=g.staff.sub,
                                    may_import=g.staff.can_see, **args)
    except imports.ImportRefused as exc:
        abort(422, message=str(exc), errors=exc.errors)
    if report.bad and not report.applied and not report.dry_run:
        abort(422, message=f"{report.bad} of {report.rows} rows are bad; nothing was imported.",
              errors={str(bad.line): bad.errors for bad in report.bad_rows})
    if report.rows == 0:
        abort(422, message="The import has no rows.")
    return report


def _without_nul(rows):
    """A cell holding a NUL character makes its row bad (no name or amount has one, and PostgreSQL
    cannot store it)."""
    for line, row in rows:
        bad = {name: ["Must not contain a NUL character."] for name, value in row.items()
               if name != PROBLEMS and isinstance(value, str) and "\x00" in value}
        if bad:
            row = {**{k: v for k, v in row.items() if k not in bad}, PROBLEMS: {**bad, **row.get(PROBLEMS, {})}}
        yield line, row


def _rows(kind: str):
    if request.mimetype in CSV_TYPES:
        return imports.csv_rows(request.stream, kind)
    if request.mimetype == "multipart/form-data":
        upload = request.files.get("file")
        if upload is None:
            abort(422, message="Send the CSV file in the multipart field `file`.",
                  errors={"file": ["Missing."]})
        return imports.csv_rows(upload.stream, kind)
    if request.is_json:
        return imports.json_rows(RowsIn().load(request.get_json())["rows"], kind)
    abort(415, message="Send a CSV file (text/csv, or multipart field `file`) or JSON {\"rows\": [...]}.")

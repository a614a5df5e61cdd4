"""What the owner ticked and wrote on the reply form, checked before anything is kept."""
from __future__ import annotations

import unicodedata
from decimal import Decimal

from marshmallow import ValidationError, fields, post_load, pre_load, validate, validates_schema
from werkzeug.datastructures import MultiDict

from shared.events import FORM_REASONS, ISSUE_CATEGORIES
from shared.schemas import StrictSchema

MAX_TEXT = 2000
MAX_AMOUNT = Decimal("9999999999.99")  # what cases' money columns hold
# A disputed bill has its own reason; the other categories are what a service complaint is about.
COMPLAINT_CATEGORIES = tuple(c for c in ISSUE_CATEGORIES if c != "billing_dispute")
TEXT_FIELDS = ("complaint_detail", "dispute_detail", "hardship_detail", "other_detail", "problem")
# Which reason each free-text box explains; `problem` (what should be fixed) stands for the whole form.
DETAIL_OF = {"service_complaint": "complaint_detail", "disputed_amount": "dispute_detail",
             "hardship": "hardship_detail", "other": "other_detail"}
_text = {name: fields.Str(load_default="", validate=validate.Length(max=MAX_TEXT)) for name in TEXT_FIELDS}


class ReplyFormAnswers(StrictSchema):
    reasons = fields.List(fields.Str(validate=validate.OneOf(FORM_REASONS)), required=True,
                          validate=validate.Length(min=1, max=len(FORM_REASONS)))
    category = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(COMPLAINT_CATEGORIES))
    disputed_amount = fields.Decimal(load_default=None, allow_none=True, places=2,
                                     validate=validate.Range(min=Decimal("0.01"), max=MAX_AMOUNT))
    complaint_detail = _text["complaint_detail"]
    dispute_detail = _text["dispute_detail"]
    hardship_detail = _text["hardship_detail"]
    other_detail = _text["other_detail"]
    problem = _text["problem"]

    @pre_load
    def tidy(self, data, **_):
        data = dict(data)
        for name in ("category", "disputed_amount"):
            if isinstance(data.get(name), str) and not data[name].strip():
                data[name] = None  # an untouched select or amount box
        amount = data.get("disputed_amount")
        if isinstance(amount, str):
            # Full-width digits, thousands separators and a currency sign are how people write sums.
            amount = unicodedata.normalize("NFKC", amount)
            data["disputed_amount"] = amount.replace(",", "").replace("¥", "").replace("元", "").strip()
        for name in TEXT_FIELDS:
            if isinstance(data.get(name), str):
                data[name] = data[name].replace("\r\n", "\n").strip()
        return data

    @validates_schema
    def explained(self, data, **_):
        reasons = data.get("reasons") or ()
        errors = {}
        if "service_complaint" in reasons and not data.get("category"):
            errors["category"] = ["Choose what the complaint is about."]
        if "disputed_amount" in reasons and data.get("disputed_amount") is None:
            errors["disputed_amount"] = ["Say what amount you think is right."]
        if errors:
            raise ValidationError(errors)

    @post_load
    def as_reasons(self, data, **_) -> dict:
        """The form.submitted payload's `reasons` and `problem` (each reason once, in the form's order)."""
        reasons = []
        for reason in (r for r in FORM_REASONS if r in data["reasons"]):
            reasons.append({
                "reason": reason,
                "category": data["category"] if reason == "service_complaint" else None,
                "disputed_amount": data["disputed_amount"] if reason == "disputed_amount" else None,
                "detail": data[DETAIL_OF[reason]] if reason in DETAIL_OF else "",
            })
        return {"reasons": reasons, "problem": data["problem"]}


def read_answers(form: MultiDict) -> dict:
    """The form fields as the schema reads them: `reason` may be ticked several times."""
    data = {name: value for name, value in form.items(multi=False) if name != "reason"}
    data["reasons"] = form.getlist("reason")
    return ReplyFormAnswers().load(data)

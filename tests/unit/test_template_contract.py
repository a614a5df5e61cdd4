"""Every message cases can ask for has wording in the notifier, in both languages."""
from __future__ import annotations

import pytest

from services.cases.ladder import DEFAULT_LADDER
from services.notifier import templates
from shared.events import LOCALES

ASKED_FOR = sorted({s.template for s in DEFAULT_LADDER if s.channels} | {"promise_due", "issue_resolved"})


@pytest.mark.parametrize("template", ASKED_FOR)
@pytest.mark.parametrize("locale", LOCALES)
def test_the_notifier_has_sms_and_email_wording_for_every_template_cases_uses(template, locale):
    assert (template, locale) in templates.SMS
    assert (template, locale) in templates.EMAIL_SUBJECT
    assert (template, locale) in templates.EMAIL_TEXT
    body = templates.render_sms(template, locale, {"name": "Owner", "amount": "12.00"})
    assert "Owner" in body and "$" not in body  # every placeholder was filled
    if template != "issue_resolved":  # a fixed problem is news, not a bill
        assert "12.00" in body

"""Reminder wording: every SMS tells the owner how to opt out."""
from __future__ import annotations

import pytest

from services.notifier.templates import OPT_OUT_HINT, SMS, render_email, render_sms

VALUES = {"name": "王芳", "amount": "2860.00", "community": "lakeside-garden"}


@pytest.mark.parametrize("template, locale", sorted(SMS), ids=[f"{t}-{loc}" for t, loc in sorted(SMS)])
def test_every_sms_ends_with_the_opt_out_hint_of_its_language(template, locale):
    text = render_sms(template, locale, VALUES)

    assert text.endswith(OPT_OUT_HINT[locale])
    assert "王芳" in text and "$" not in text
    if template != "issue_resolved":  # news of a fix does not repeat the bill
        assert "2860.00" in text


@pytest.mark.parametrize("locale, hint", [("zh-CN", "回复TD退订"), ("en", "Reply STOP to opt out")])
def test_the_reminder_sms_carries_the_opt_out_wording_carriers_expect(locale, hint):
    assert render_sms("reminder", locale, VALUES).endswith(hint)


def test_the_english_hint_is_its_own_sentence():
    assert render_sms("reminder", "en", VALUES).endswith(". Reply STOP to opt out")


@pytest.mark.parametrize("locale", ["fr", "zh-TW"])
def test_a_language_without_wording_falls_back_to_chinese_with_the_chinese_hint(locale):
    text = render_sms("reminder", locale, VALUES)

    assert text == render_sms("reminder", "zh-CN", VALUES)


def test_an_sms_missing_a_value_still_ends_with_the_hint():
    assert render_sms("reminder", "en", {"name": "Emily Chen"}).endswith(OPT_OUT_HINT["en"])


@pytest.mark.parametrize("locale", ["zh-CN", "en"])
def test_the_reminder_email_names_the_owner_and_the_amount(locale):
    subject, text = render_email("reminder", locale, VALUES)

    assert subject and "王芳" in text and "2860.00" in text and "$" not in subject + text

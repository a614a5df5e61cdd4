"""Wording per stage and language, overridable per community. Every SMS ends with the opt-out hint."""
from __future__ import annotations

from services.notifier.templates.rendering import (
    CHANNELS,
    LOCALES,
    TEMPLATES,
    VARIABLES,
    Wording,
    check_wording,
    default_wording,
    email_html,
    render_email,
    render_sms,
    render_text,
    sms_segment_limit,
    with_opt_out_hint,
)
from services.notifier.templates.wording import (
    EMAIL_SUBJECT,
    EMAIL_TEXT,
    LETTER_BODY,
    LETTER_TITLE,
    LETTERHEAD,
    OPT_OUT_HINT,
    SMS,
)

__all__ = [
    "CHANNELS", "EMAIL_SUBJECT", "EMAIL_TEXT", "LETTERHEAD", "LETTER_BODY", "LETTER_TITLE", "LOCALES",
    "OPT_OUT_HINT", "SMS", "TEMPLATES", "VARIABLES", "Wording", "check_wording", "default_wording",
    "email_html", "render_email", "render_sms", "render_text", "sms_segment_limit", "with_opt_out_hint",
]

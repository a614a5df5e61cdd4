"""Mask personal data (phones, emails, names, message text) before anything is logged."""
from __future__ import annotations

import re
from typing import Any

# Keys whose values are personal data however they look.
PERSONAL_KEYS = frozenset(
    {"name", "owner_name", "phone", "email", "body", "text", "sender", "recipient",
     "from", "to", "from_", "address", "description", "free_text"}
)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(\.[\w-]+)+")
# E.164 (+8613812345678), bare mainland mobiles (13812345678) and spaced/dashed forms.
# ASCII-only look-arounds: a number right after Chinese text ("电话13800138001") is still masked.
_PHONE = re.compile(r"(?<![0-9A-Za-z+])\+?\d[\d\s-]{6,16}\d(?![0-9A-Za-z])")


def mask_email(value: str) -> str:
    local, _, domain = value.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def mask_phone(value: str) -> str:
    digits = re.sub(r"\D", "", value)
    return f"***{digits[-2:]}" if len(digits) > 2 else "***"


def mask_text(text: str) -> str:
    """Replace every email and phone-looking run in free text."""
    text = _EMAIL.sub(lambda m: mask_email(m.group(0)), text)
    return _PHONE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key.lower() in PERSONAL_KEYS:  # Twilio's form fields are capitalised: Body, From, To
        if isinstance(value, str) and "@" in value:
            return mask_email(value)
        if isinstance(value, str) and re.fullmatch(r"\+?[\d\s-]{7,}", value):
            return mask_phone(value)
        return f"<{len(str(value))} chars>"
    return mask_fields(value)


def mask_fields(value: Any) -> Any:
    """Recursively mask a structure meant for a log line."""
    if isinstance(value, dict):
        return {k: mask_value(str(k), v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [mask_fields(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value

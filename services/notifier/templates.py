"""Reminder wording per stage and language. Every SMS ends with the opt-out hint."""
from __future__ import annotations

from string import Template

OPT_OUT_HINT = {"zh-CN": "回复TD退订", "en": "Reply STOP to opt out"}

SMS = {
    ("reminder", "zh-CN"): Template("【物业服务中心】$name您好，您的物业服务费尚欠$amount元，请及时缴纳，如有疑问请直接回复。"),
    ("reminder", "en"): Template("Property service centre: Dear $name, your service fee balance of CNY $amount is overdue. Please pay soon, or reply with any question."),
}
EMAIL_SUBJECT = {
    ("reminder", "zh-CN"): Template("物业服务费缴费提醒"),
    ("reminder", "en"): Template("Reminder: property service fee overdue"),
}
EMAIL_TEXT = {
    ("reminder", "zh-CN"): Template("$name您好：\n\n您的物业服务费尚欠$amount元。请及时缴纳；如对费用或服务有任何问题，直接回复本邮件，我们会尽快处理。\n\n物业服务中心"),
    ("reminder", "en"): Template("Dear $name,\n\nYour property service fee balance of CNY $amount is overdue. Please pay soon; if anything about the fee or our service is wrong, reply to this email and we will look into it.\n\nProperty service centre"),
}


def _pick(table: dict, template: str, locale: str) -> Template:
    return table.get((template, locale)) or table[(template, "zh-CN")]


def render_sms(template: str, locale: str, values: dict) -> str:
    text = _pick(SMS, template, locale).safe_substitute(values)
    return f"{text}{' ' if locale == 'en' else ''}{OPT_OUT_HINT.get(locale, OPT_OUT_HINT['zh-CN'])}"


def render_email(template: str, locale: str, values: dict) -> tuple[str, str]:
    subject = _pick(EMAIL_SUBJECT, template, locale).safe_substitute(values)
    return subject, _pick(EMAIL_TEXT, template, locale).safe_substitute(values)

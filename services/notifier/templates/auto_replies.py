"""Wording of the answers to what owners send us (autoreply.requested), per kind and language.

Rendered like the reminders (Jinja sandbox, plain text; the email HTML is built from the text with
autoescape). Every SMS ends with the opt-out hint, except the opt-out confirmation itself, which
says how to come back instead.
"""
from __future__ import annotations

from datetime import date

from services.notifier.templates.rendering import email_html, render_text, supported, with_opt_out_hint

KINDS = ("promise_ack", "ask_date", "faq_answer", "help", "opt_out_confirmed", "opt_in_confirmed")
NO_HINT = frozenset({"opt_out_confirmed"})

SMS = {
    ("promise_ack", "zh-CN"): "【物业服务中心】我们已记录您承诺于{{ promised_date }}缴纳物业费，谢谢。",
    ("promise_ack", "en"): "Property service centre: We have noted your promise to pay on {{ promised_date }}. Thank you.",
    ("ask_date", "zh-CN"): "【物业服务中心】请问您具体哪一天可以缴纳？回复日期即可，例如：下周五",
    ("ask_date", "en"): "Property service centre: Which day will you be able to pay? Just reply with the date, for example: next Friday",
    ("faq_answer", "zh-CN"): "【物业服务中心】{{ answer }}",
    ("faq_answer", "en"): "Property service centre: {{ answer }}",
    ("help", "zh-CN"): "【物业服务中心】回复缴费日期（如：下周五）告诉我们何时缴纳；有问题或投诉请直接回复说明，我们会尽快处理。",
    ("help", "en"): "Property service centre: Reply with a date (e.g. next Friday) to tell us when you will pay; for a question or a complaint, just reply and tell us.",
    ("opt_out_confirmed", "zh-CN"): "【物业服务中心】您已退订短信通知，将不再收到短信。如需恢复，请回复“订阅”。",
    ("opt_out_confirmed", "en"): "Property service centre: You have opted out and will get no more messages. Reply START to opt back in.",
    ("opt_in_confirmed", "zh-CN"): "【物业服务中心】您已恢复接收物业服务通知，谢谢。",
    ("opt_in_confirmed", "en"): "Property service centre: You will receive our notices again. Thank you.",
}
EMAIL_SUBJECT = {
    ("promise_ack", "zh-CN"): "我们已记录您的缴费日期",
    ("promise_ack", "en"): "We have noted the day you will pay",
    ("ask_date", "zh-CN"): "请告诉我们具体的缴费日期",
    ("ask_date", "en"): "Which day will you pay?",
    ("faq_answer", "zh-CN"): "关于您的问题",
    ("faq_answer", "en"): "About your question",
    ("help", "zh-CN"): "如何回复我们",
    ("help", "en"): "How to reply to us",
    ("opt_out_confirmed", "zh-CN"): "您已退订邮件通知",
    ("opt_out_confirmed", "en"): "You have opted out",
    ("opt_in_confirmed", "zh-CN"): "您已恢复接收通知",
    ("opt_in_confirmed", "en"): "You will hear from us again",
}
EMAIL_TEXT = {
    ("promise_ack", "zh-CN"): "您好：\n\n我们已记录您承诺于{{ promised_date }}缴纳物业费，谢谢您的支持。\n\n物业服务中心",
    ("promise_ack", "en"): "Hello,\n\nWe have noted your promise to pay on {{ promised_date }}. Thank you for your support.\n\nProperty service centre",
    ("ask_date", "zh-CN"): "您好：\n\n请问您具体哪一天可以缴纳？回复日期即可，例如：下周五。\n\n物业服务中心",
    ("ask_date", "en"): "Hello,\n\nWhich day will you be able to pay? Just reply with the date, for example: next Friday.\n\nProperty service centre",
    ("faq_answer", "zh-CN"): "您好：\n\n{{ answer }}\n\n如仍有疑问，请直接回复本邮件。\n\n物业服务中心",
    ("faq_answer", "en"): "Hello,\n\n{{ answer }}\n\nIf anything is still unclear, reply to this email.\n\nProperty service centre",
    ("help", "zh-CN"): "您好：\n\n回复缴费日期（如：下周五）即可告诉我们您何时缴纳；如有问题或投诉，请直接回复说明，我们会尽快处理。\n\n物业服务中心",
    ("help", "en"): "Hello,\n\nReply with a date (for example: next Friday) to tell us when you will pay; for a question or a complaint, just reply and tell us.\n\nProperty service centre",
    ("opt_out_confirmed", "zh-CN"): "您好：\n\n您已退订邮件通知，将不再收到我们的邮件。如需恢复，请回复“订阅”。\n\n物业服务中心",
    ("opt_out_confirmed", "en"): "Hello,\n\nYou have opted out and will get no more emails from us. Reply START to opt back in.\n\nProperty service centre",
    ("opt_in_confirmed", "zh-CN"): "您好：\n\n您已恢复接收物业服务通知，谢谢。\n\n物业服务中心",
    ("opt_in_confirmed", "en"): "Hello,\n\nYou will receive our notices again. Thank you.\n\nProperty service centre",
}


def _values(context: dict, locale: str) -> dict:
    values = {k: str(v) for k, v in context.items()}
    promised = context.get("promised_date")
    if promised:
        try:
            day = date.fromisoformat(str(promised))
        except ValueError:
            pass
        else:
            values["promised_date"] = f"{day.year}年{day.month}月{day.day}日" if locale == "zh-CN" \
                else f"{day.day} {day:%B %Y}"
    return values


def render_sms(kind: str, locale: str, context: dict) -> str:
    locale = supported(locale)
    text = render_text(SMS[(kind, locale)], _values(context, locale))
    return text if kind in NO_HINT else with_opt_out_hint(text, locale)


def render_email(kind: str, locale: str, context: dict) -> tuple[str, str, str]:
    """(subject, text, html)."""
    locale = supported(locale)
    text = render_text(EMAIL_TEXT[(kind, locale)], _values(context, locale))
    return EMAIL_SUBJECT[(kind, locale)], text, email_html(text, locale)

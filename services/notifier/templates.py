"""Reminder wording per stage and language. Every SMS ends with the opt-out hint."""
from __future__ import annotations

from string import Template

OPT_OUT_HINT = {"zh-CN": "回复TD退订", "en": "Reply STOP to opt out"}

# Wording per (template, locale). Letters (PDF) are the notifier issue's; these are the texts.
SMS = {
    ("reminder", "zh-CN"): Template("【物业服务中心】$name您好，您的物业服务费尚欠$amount元，请及时缴纳，如有疑问请直接回复。"),
    ("reminder", "en"): Template("Property service centre: Dear $name, your service fee balance of CNY $amount is overdue. Please pay soon, or reply with any question."),
    ("notice", "zh-CN"): Template("【物业服务中心】$name您好，您的物业服务费已逾期，尚欠$amount元。我们已向您寄送《催费函》，请尽快缴纳；如有问题请直接回复。"),
    ("notice", "en"): Template("Property service centre: Dear $name, your service fee of CNY $amount is overdue and a formal notice has been sent to you. Please pay promptly, or reply with any problem."),
    ("lawyer_letter", "zh-CN"): Template("【物业服务中心】$name您好，因物业服务费$amount元长期未缴，已委托律师向您发出《律师函》。请尽快缴纳或回复说明情况。"),
    ("lawyer_letter", "en"): Template("Property service centre: Dear $name, as CNY $amount in service fees remains unpaid, our lawyer has sent you a letter. Please pay or reply to tell us why."),
    ("follow_up_letter", "zh-CN"): Template("【物业服务中心】$name您好，您尚欠物业服务费$amount元。如有未缴原因或需要解决的问题，请回复告诉我们，我们将尽力解决。"),
    ("follow_up_letter", "en"): Template("Property service centre: Dear $name, CNY $amount in service fees is still unpaid. If something is stopping you from paying, reply and tell us; we will do our best to fix it."),
    ("promise_due", "zh-CN"): Template("【物业服务中心】$name您好，今天是您约定的缴费日，应缴物业服务费$amount元，感谢您的支持。"),
    ("promise_due", "en"): Template("Property service centre: Dear $name, today is the day you agreed to pay the service fee of CNY $amount. Thank you."),
    ("issue_resolved", "zh-CN"): Template("【物业服务中心】$name您好，您反映的问题已处理完毕。如仍有不满意，请直接回复告诉我们。"),
    ("issue_resolved", "en"): Template("Property service centre: Dear $name, the problem you reported has been fixed. If anything is still wrong, just reply and tell us."),
}
EMAIL_SUBJECT = {
    ("reminder", "zh-CN"): Template("物业服务费缴费提醒"),
    ("reminder", "en"): Template("Reminder: property service fee overdue"),
    ("notice", "zh-CN"): Template("物业服务费催费函"),
    ("notice", "en"): Template("Formal notice: overdue property service fee"),
    ("lawyer_letter", "zh-CN"): Template("律师函：物业服务费欠费"),
    ("lawyer_letter", "en"): Template("Lawyer's letter: overdue property service fee"),
    ("follow_up_letter", "zh-CN"): Template("律师函后函：请告诉我们未缴费的原因"),
    ("follow_up_letter", "en"): Template("Follow-up: tell us why the fee is unpaid"),
    ("promise_due", "zh-CN"): Template("今天是您约定的缴费日"),
    ("promise_due", "en"): Template("Today is the day you agreed to pay"),
    ("issue_resolved", "zh-CN"): Template("您反映的问题已处理完毕"),
    ("issue_resolved", "en"): Template("The problem you reported has been fixed"),
}
EMAIL_TEXT = {
    ("reminder", "zh-CN"): Template("$name您好：\n\n您的物业服务费尚欠$amount元。请及时缴纳；如对费用或服务有任何问题，直接回复本邮件，我们会尽快处理。\n\n物业服务中心"),
    ("reminder", "en"): Template("Dear $name,\n\nYour property service fee balance of CNY $amount is overdue. Please pay soon; if anything about the fee or our service is wrong, reply to this email and we will look into it.\n\nProperty service centre"),
    ("notice", "zh-CN"): Template("$name您好：\n\n您的物业服务费已逾期，尚欠$amount元。本函为正式催费通知，请于收到后尽快缴纳。如对费用有异议或有需要物业解决的问题，请直接回复本邮件。\n\n物业服务中心"),
    ("notice", "en"): Template("Dear $name,\n\nThis is a formal notice that CNY $amount in property service fees is overdue. Please pay promptly. If you dispute the amount or there is a problem we should fix, reply to this email.\n\nProperty service centre"),
    ("lawyer_letter", "zh-CN"): Template("$name您好：\n\n因您的物业服务费$amount元长期未缴，服务中心已委托律师发出律师函。请尽快缴纳；如有特殊情况，请直接回复说明。\n\n物业服务中心"),
    ("lawyer_letter", "en"): Template("Dear $name,\n\nAs CNY $amount in service fees has long remained unpaid, the service centre has instructed a lawyer to write to you. Please pay promptly, or reply to explain your situation.\n\nProperty service centre"),
    ("follow_up_letter", "zh-CN"): Template("$name您好：\n\n您尚欠物业服务费$amount元。恳请您告诉我们未缴费的原因以及家中需要解决的问题，服务中心将尽力解决。直接回复本邮件即可。\n\n物业服务中心"),
    ("follow_up_letter", "en"): Template("Dear $name,\n\nCNY $amount in service fees is still unpaid. Please tell us why, and what problems at home we should fix; the service centre will do its best. Just reply to this email.\n\nProperty service centre"),
    ("promise_due", "zh-CN"): Template("$name您好：\n\n今天是您约定的缴费日，应缴物业服务费$amount元。感谢您的理解与支持。\n\n物业服务中心"),
    ("promise_due", "en"): Template("Dear $name,\n\nToday is the day you agreed to pay the service fee of CNY $amount. Thank you for your support.\n\nProperty service centre"),
    ("issue_resolved", "zh-CN"): Template("$name您好：\n\n您反映的问题已处理完毕，感谢您的耐心。如仍有不满意之处，请直接回复本邮件告诉我们。\n\n物业服务中心"),
    ("issue_resolved", "en"): Template("Dear $name,\n\nThe problem you reported has been fixed; thank you for your patience. If anything is still not right, reply to this email and tell us.\n\nProperty service centre"),
}


def _pick(table: dict, template: str, locale: str) -> Template:
    return table.get((template, locale)) or table[(template, "zh-CN")]


def render_sms(template: str, locale: str, values: dict) -> str:
    text = _pick(SMS, template, locale).safe_substitute(values)
    return f"{text}{' ' if locale == 'en' else ''}{OPT_OUT_HINT.get(locale, OPT_OUT_HINT['zh-CN'])}"


def render_email(template: str, locale: str, values: dict) -> tuple[str, str]:
    subject = _pick(EMAIL_SUBJECT, template, locale).safe_substitute(values)
    return subject, _pick(EMAIL_TEXT, template, locale).safe_substitute(values)

"""The reply form's words in Chinese and English; the owner's browser picks, a link switches."""
from __future__ import annotations

from flask import Request

LOCALES = ("zh-CN", "en")

WORDS = {
    "zh-CN": {
        "html_lang": "zh-CN", "switch_to": "en", "switch_label": "English",
        "title": "物业费回复单",
        "greeting": "尊敬的业主，您好：",
        "intro": "您收到了我们关于物业服务费的函件。请告诉我们费用尚未缴纳的原因，以及您希望我们解决的问题。"
                 "我们会认真核实，并尽快与您联系。",
        "reasons_legend": "未缴费的原因（可多选）",
        "reasons": {
            "service_complaint": "对物业服务不满意",
            "disputed_amount": "对收费金额有异议",
            "hardship": "暂时有经济困难",
            "vacant_unit": "房屋空置",
            "bill_not_received": "没有收到账单",
            "other": "其他原因",
        },
        "category_label": "哪方面的服务？",
        "category_choose": "请选择",
        "categories": {
            "repairs": "维修", "leaks": "漏水", "cleaning": "保洁", "security": "安保", "parking": "停车",
            "lifts": "电梯", "noise": "噪音", "greenery": "绿化", "service_attitude": "服务态度",
            "other": "其他",
        },
        "complaint_detail_label": "请描述具体情况",
        "disputed_amount_label": "您认为正确的金额（元）",
        "dispute_detail_label": "为什么有异议？",
        "hardship_detail_label": "可以说说您的情况（可选）",
        "other_detail_label": "请说明",
        "problem_label": "您希望我们解决什么问题？",
        "length_hint": "每项最多 2000 字。",
        "submit": "提交",
        "errors_heading": "请检查以下内容：",
        "errors": {
            "reasons": "请至少选择一个原因。",
            "category": "请选择是哪方面的服务。",
            "disputed_amount": "请填写您认为正确的金额（大于 0 的数字）。",
            "text": "内容太长：每项最多 2000 字。",
            "form": "请检查填写的内容。",
            "csrf": "页面已过期，请重新填写并提交。",
        },
        "thanks_title": "已收到，谢谢您！",
        "thanks_body": "我们会认真核实您反映的情况，并尽快与您联系。",
        "gone_title": "此链接已不能使用",
        "gone_body": "如果您已经提交过回复，我们已经收到，谢谢。如有其他问题，请联系物业服务中心。",
        "too_many_title": "提交过于频繁",
        "too_many_body": "请稍后再试。",
        "too_long_title": "内容过长",
        "too_long_body": "提交的内容超过了允许的长度。请返回，缩短后再提交。",
    },
    "en": {
        "html_lang": "en", "switch_to": "zh-CN", "switch_label": "中文",
        "title": "Reply about your property fee",
        "greeting": "Dear owner,",
        "intro": "You received our letter about the property service fee. Please tell us why it is still "
                 "unpaid and what you would like us to fix. We will look into it and contact you soon.",
        "reasons_legend": "Why is the fee unpaid? (tick all that apply)",
        "reasons": {
            "service_complaint": "I am unhappy with the service",
            "disputed_amount": "I dispute the amount",
            "hardship": "I cannot pay right now (financial hardship)",
            "vacant_unit": "The unit is vacant",
            "bill_not_received": "I did not receive a bill",
            "other": "Another reason",
        },
        "category_label": "Which service?",
        "category_choose": "Choose…",
        "categories": {
            "repairs": "Repairs", "leaks": "Leaks", "cleaning": "Cleaning", "security": "Security",
            "parking": "Parking", "lifts": "Lifts", "noise": "Noise", "greenery": "Greenery",
            "service_attitude": "Staff attitude", "other": "Something else",
        },
        "complaint_detail_label": "What happened?",
        "disputed_amount_label": "The amount you think is right (CNY)",
        "dispute_detail_label": "Why do you dispute it?",
        "hardship_detail_label": "Anything you would like to tell us (optional)",
        "other_detail_label": "Please explain",
        "problem_label": "What problem should we fix?",
        "length_hint": "Up to 2000 characters each.",
        "submit": "Send",
        "errors_heading": "Please check the following:",
        "errors": {
            "reasons": "Tick at least one reason.",
            "category": "Choose which service the complaint is about.",
            "disputed_amount": "Give the amount you think is right (a number above 0).",
            "text": "Too long: up to 2000 characters each.",
            "form": "Please check what you entered.",
            "csrf": "This page has expired. Please fill it in and send it again.",
        },
        "thanks_title": "Thank you, we have received your answer",
        "thanks_body": "We will look into what you told us and contact you soon.",
        "gone_title": "This link can no longer be used",
        "gone_body": "If you have already sent your answer, we have received it. For anything else, "
                     "please contact the service centre.",
        "too_many_title": "Too many attempts",
        "too_many_body": "Please try again in a little while.",
        "too_long_title": "Too long",
        "too_long_body": "What you sent is longer than the form allows. Please go back, shorten it and send again.",
    },
}


def pick_locale(request: Request) -> str:
    """?lang= when the owner switched, else the browser's preference, else Chinese."""
    asked = request.args.get("lang")
    if asked in LOCALES:
        return asked
    return request.accept_languages.best_match(LOCALES, default="zh-CN")

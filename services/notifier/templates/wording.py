"""Today's wording per stage and language: the defaults a community may override.

Jinja source rendered as plain text (SMS, email text, letters) in a sandbox; the email HTML is
built from the text with autoescape. Every SMS gets the opt-out hint appended when rendered.
"""
from __future__ import annotations

OPT_OUT_HINT = {"zh-CN": "回复TD退订", "en": "Reply STOP to opt out"}

# Wording per (template, locale).
SMS = {
    ("reminder", "zh-CN"): "【物业服务中心】{{ name }}您好，您的物业服务费尚欠{{ amount }}元，请及时缴纳，如有疑问请直接回复。",
    ("reminder", "en"): "Property service centre: Dear {{ name }}, your service fee balance of CNY {{ amount }} is overdue. Please pay soon, or reply with any question.",
    ("notice", "zh-CN"): "【物业服务中心】{{ name }}您好，您的物业服务费已逾期，尚欠{{ amount }}元。我们已向您寄送《催费函》，请尽快缴纳；如有问题请直接回复。",
    ("notice", "en"): "Property service centre: Dear {{ name }}, your service fee of CNY {{ amount }} is overdue and a formal notice has been sent to you. Please pay promptly, or reply with any problem.",
    ("lawyer_letter", "zh-CN"): "【物业服务中心】{{ name }}您好，因物业服务费{{ amount }}元长期未缴，已委托律师向您发出《律师函》。请尽快缴纳或回复说明情况。",
    ("lawyer_letter", "en"): "Property service centre: Dear {{ name }}, as CNY {{ amount }} in service fees remains unpaid, our lawyer has sent you a letter. Please pay or reply to tell us why.",
    ("follow_up_letter", "zh-CN"): "【物业服务中心】{{ name }}您好，您尚欠物业服务费{{ amount }}元。如有未缴原因或需要解决的问题，请回复告诉我们，我们将尽力解决。",
    ("follow_up_letter", "en"): "Property service centre: Dear {{ name }}, CNY {{ amount }} in service fees is still unpaid. If something is stopping you from paying, reply and tell us; we will do our best to fix it.",
    ("promise_due", "zh-CN"): "【物业服务中心】{{ name }}您好，今天是您约定的缴费日，应缴物业服务费{{ amount }}元，感谢您的支持。",
    ("promise_due", "en"): "Property service centre: Dear {{ name }}, today is the day you agreed to pay the service fee of CNY {{ amount }}. Thank you.",
    ("issue_resolved", "zh-CN"): "【物业服务中心】{{ name }}您好，您反映的问题已处理完毕。如仍有不满意，请直接回复告诉我们。",
    ("issue_resolved", "en"): "Property service centre: Dear {{ name }}, the problem you reported has been fixed. If anything is still wrong, just reply and tell us.",
}
EMAIL_SUBJECT = {
    ("reminder", "zh-CN"): "物业服务费缴费提醒",
    ("reminder", "en"): "Reminder: property service fee overdue",
    ("notice", "zh-CN"): "物业服务费催费函",
    ("notice", "en"): "Formal notice: overdue property service fee",
    ("lawyer_letter", "zh-CN"): "律师函：物业服务费欠费",
    ("lawyer_letter", "en"): "Lawyer's letter: overdue property service fee",
    ("follow_up_letter", "zh-CN"): "律师函后函：请告诉我们未缴费的原因",
    ("follow_up_letter", "en"): "Follow-up: tell us why the fee is unpaid",
    ("promise_due", "zh-CN"): "今天是您约定的缴费日",
    ("promise_due", "en"): "Today is the day you agreed to pay",
    ("issue_resolved", "zh-CN"): "您反映的问题已处理完毕",
    ("issue_resolved", "en"): "The problem you reported has been fixed",
}
EMAIL_TEXT = {
    ("reminder", "zh-CN"): "{{ name }}您好：\n\n您的物业服务费尚欠{{ amount }}元。请及时缴纳；如对费用或服务有任何问题，直接回复本邮件，我们会尽快处理。\n\n物业服务中心",
    ("reminder", "en"): "Dear {{ name }},\n\nYour property service fee balance of CNY {{ amount }} is overdue. Please pay soon; if anything about the fee or our service is wrong, reply to this email and we will look into it.\n\nProperty service centre",
    ("notice", "zh-CN"): "{{ name }}您好：\n\n您的物业服务费已逾期，尚欠{{ amount }}元。本函为正式催费通知，请于收到后尽快缴纳。如对费用有异议或有需要物业解决的问题，请直接回复本邮件。\n\n物业服务中心",
    ("notice", "en"): "Dear {{ name }},\n\nThis is a formal notice that CNY {{ amount }} in property service fees is overdue. Please pay promptly. If you dispute the amount or there is a problem we should fix, reply to this email.\n\nProperty service centre",
    ("lawyer_letter", "zh-CN"): "{{ name }}您好：\n\n因您的物业服务费{{ amount }}元长期未缴，服务中心已委托律师发出律师函。请尽快缴纳；如有特殊情况，请直接回复说明。\n\n物业服务中心",
    ("lawyer_letter", "en"): "Dear {{ name }},\n\nAs CNY {{ amount }} in service fees has long remained unpaid, the service centre has instructed a lawyer to write to you. Please pay promptly, or reply to explain your situation.\n\nProperty service centre",
    ("follow_up_letter", "zh-CN"): "{{ name }}您好：\n\n您尚欠物业服务费{{ amount }}元。恳请您告诉我们未缴费的原因以及家中需要解决的问题，服务中心将尽力解决。直接回复本邮件即可。\n\n物业服务中心",
    ("follow_up_letter", "en"): "Dear {{ name }},\n\nCNY {{ amount }} in service fees is still unpaid. Please tell us why, and what problems at home we should fix; the service centre will do its best. Just reply to this email.\n\nProperty service centre",
    ("promise_due", "zh-CN"): "{{ name }}您好：\n\n今天是您约定的缴费日，应缴物业服务费{{ amount }}元。感谢您的理解与支持。\n\n物业服务中心",
    ("promise_due", "en"): "Dear {{ name }},\n\nToday is the day you agreed to pay the service fee of CNY {{ amount }}. Thank you for your support.\n\nProperty service centre",
    ("issue_resolved", "zh-CN"): "{{ name }}您好：\n\n您反映的问题已处理完毕，感谢您的耐心。如仍有不满意之处，请直接回复本邮件告诉我们。\n\n物业服务中心",
    ("issue_resolved", "en"): "Dear {{ name }},\n\nThe problem you reported has been fixed; thank you for your patience. If anything is still not right, reply to this email and tell us.\n\nProperty service centre",
}


# Letters (PDF) for the formal stages: the title and the body, paragraphs split by blank lines.
# `reply_link` is set for the follow-up letter only.
LETTERHEAD = {"zh-CN": "物业服务中心", "en": "Property Service Centre"}
LETTER_TITLE = {
    ("notice", "zh-CN"): "催费函",
    ("notice", "en"): "Formal Notice of Overdue Service Fees",
    ("lawyer_letter", "zh-CN"): "律师函",
    ("lawyer_letter", "en"): "Lawyer's Letter",
    ("follow_up_letter", "zh-CN"): "律师函后函",
    ("follow_up_letter", "en"): "Follow-up to the Lawyer's Letter",
}
LETTER_BODY = {
    ("notice", "zh-CN"): "尊敬的{{ name }}业主{% if unit %}（{{ unit }}）{% endif %}：\n\n截至{{ date }}，您的物业服务费尚欠{{ amount }}元，已经逾期。根据《物业服务合同》约定，业主应按时足额缴纳物业服务费。请您于收到本函后尽快缴纳。\n\n如您对费用有异议，或有需要物业解决的问题，请与服务中心联系，我们将及时处理。",
    ("notice", "en"): "Dear {{ name }}{% if unit %} ({{ unit }}){% endif %},\n\nAs of {{ date }}, CNY {{ amount }} in property service fees is overdue on your account. Under the property service contract, fees are payable in full and on time. Please pay promptly on receipt of this notice.\n\nIf you dispute the amount, or there is a problem we should fix, please contact the service centre and we will deal with it promptly.",
    ("lawyer_letter", "zh-CN"): "尊敬的{{ name }}业主{% if unit %}（{{ unit }}）{% endif %}：\n\n受物业服务中心委托，现就您拖欠物业服务费一事致函如下：截至{{ date }}，您尚欠物业服务费{{ amount }}元。经服务中心多次催缴，至今仍未缴纳。\n\n请您于收到本函后尽快缴纳所欠费用。逾期仍未缴纳的，服务中心将依法通过诉讼途径解决，由此产生的费用可能由您承担。\n\n如有特殊情况，请及时与服务中心联系说明。",
    ("lawyer_letter", "en"): "Dear {{ name }}{% if unit %} ({{ unit }}){% endif %},\n\nWe write on behalf of the property service centre about your unpaid property service fees. As of {{ date }}, CNY {{ amount }} remains unpaid despite the service centre's repeated reminders.\n\nPlease pay the amount owed promptly on receipt of this letter. If it remains unpaid, the service centre will seek payment through the courts, and the costs of doing so may fall to you.\n\nIf your circumstances are exceptional, please contact the service centre to explain.",
    ("follow_up_letter", "zh-CN"): "尊敬的{{ name }}业主{% if unit %}（{{ unit }}）{% endif %}：\n\n截至{{ date }}，您尚欠物业服务费{{ amount }}元。我们此前已向您发出律师函，但仍未收到您的缴费或答复。\n\n如果您有未缴费的原因，或家中有需要物业解决的问题，恳请您通过下方链接告诉我们，服务中心将尽力解决：\n\n{{ reply_link }}",
    ("follow_up_letter", "en"): "Dear {{ name }}{% if unit %} ({{ unit }}){% endif %},\n\nAs of {{ date }}, CNY {{ amount }} in property service fees is still unpaid. We wrote to you through our lawyer but have not yet received your payment or your answer.\n\nIf something is stopping you from paying, or there is a problem at home we should fix, please tell us through the link below; the service centre will do its best to resolve it:\n\n{{ reply_link }}",
}

"""The starter 收费答客问 for the demo: the questions owners ask most when reminded to pay.

The training material (永基物业 物业服务费催收技巧, point 7) has the service centre write one
"收费答客问" for the common questions and hand it out instead of arguing; these entries follow its
advice: say what the fee pays for, how to pay, and that problems are fixed at once (直通车), and
always agree a day to pay (杜绝拖).
"""
from __future__ import annotations

from sqlalchemy import Engine, func, select

from services.gateway.faq.entries import add_entry
from services.gateway.tables import faq_entries

STARTER_FAQ = [
    {
        "questions_zh": ["为什么要交物业费", "凭什么交物业费", "我没住为什么还要交物业费", "物业费一定要交吗"],
        "questions_en": ["Why do I have to pay the property fee?", "Why should I pay the service fee?"],
        "answer_zh": "物业费用于小区的安保、保洁、绿化、电梯和公共设施维修等日常服务，由全体业主共同承担；"
                     "无论是否入住，公共区域的服务都在持续进行。如对服务有意见，请告诉我们，服务中心会第一时间处理。",
        "answer_en": "The property fee pays for the estate's security, cleaning, greenery, lifts and repairs of "
                     "shared facilities, shared by every owner; these services run whether or not a unit is "
                     "lived in. If something is wrong, tell us and the service centre will fix it first.",
    },
    {
        "questions_zh": ["物业费包括什么", "物业费都包括哪些服务", "物业费用在哪里了", "交的钱用来干什么"],
        "questions_en": ["What does the property fee cover?", "What services does the fee include?"],
        "answer_zh": "物业服务费包括：24小时安保巡逻与门岗、公共区域保洁与垃圾清运、绿化养护、电梯运行维保、"
                     "公共设施设备维修及服务中心客服。收支明细可到服务中心查阅。",
        "answer_en": "The service fee covers 24-hour security, cleaning of shared areas and rubbish removal, "
                     "gardening, lift maintenance, repairs of shared facilities and the service desk. You may "
                     "read the accounts at the service centre.",
    },
    {
        "questions_zh": ["怎么交物业费", "在哪里交物业费", "可以微信交吗", "可以用支付宝吗", "可以转账吗", "交费方式有哪些"],
        "questions_en": ["How can I pay?", "Where do I pay the fee?", "Can I pay by WeChat or bank transfer?"],
        "answer_zh": "您可以到服务中心前台刷卡或现金缴费，也可以用微信、支付宝或银行转账（请备注楼栋和房号）。"
                     "请回复您方便缴费的具体日期，我们会为您登记。",
        "answer_en": "Pay at the service centre desk by card or cash, or by WeChat Pay, Alipay or bank transfer "
                     "(add your building and unit number). Please reply with the day you will pay and we will "
                     "note it.",
    },
    {
        "questions_zh": ["我家的问题还没解决", "问题解决了再交", "报修了没人来修"],
        "questions_en": ["My repair has not been fixed", "Fix my problem first"],
        "answer_zh": "非常抱歉给您带来不便。请回复具体问题（如漏水、电梯、噪音），服务中心会登记并在第一时间安排处理，"
                     "处理进度会通知您。",
        "answer_en": "We are sorry for the trouble. Reply with the problem (a leak, the lift, noise) and the "
                     "service centre will log it and deal with it first; we will tell you how it goes.",
    },
    {
        "questions_zh": ["欠了多少物业费", "我还欠多少钱", "账单在哪里看"],
        "questions_en": ["How much do I owe?", "Where can I see my bill?"],
        "answer_zh": "您的欠费金额以最近一次缴费通知为准；如需明细，请到服务中心前台查询，或回复“明细”由工作人员联系您。",
        "answer_en": "The amount owed is the one in your latest notice; for a statement ask at the service centre "
                     "desk, or reply and a member of staff will contact you.",
    },
]


def load_starter_faq(engine: Engine) -> int:
    """Add the starter entries to an empty FAQ; return how many were added (none if staff have any)."""
    with engine.begin() as connection:
        if connection.execute(select(func.count()).select_from(faq_entries)).scalar_one():
            return 0
        for entry in STARTER_FAQ:
            add_entry(connection, entry, "starter")
    return len(STARTER_FAQ)

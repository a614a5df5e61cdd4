"""The words that signal each intent, in Chinese and English, and the questions asked of them.

English phrases match as whole words even beside Chinese (\\b treats 汉字 as word characters).
Single words that also occur in ordinary sentences (END, CANCEL, T, R, HELP, START) count only
when they are the whole reply.
"""
from __future__ import annotations

import re

from services.gateway.intent.language import bare, is_short


def _any(*phrases: str) -> re.Pattern:
    return re.compile("|".join(phrases))


def _en(*phrases: str) -> re.Pattern:
    return re.compile(r"(?<![a-z])(?:" + "|".join(phrases) + r")(?![a-z])")


_OPT_OUT_ALONE = {"stop", "stopall", "unsubscribe", "end", "quit", "cancel", "td", "t", "r",
                  "退订", "拒收", "不要再发", "不要再发了"}
_OPT_OUT = (
    _any("退订", "拒收", "不要再发", "别再发", "不要发了", "别发了", "不要再给我发", "别给我发",
         "取消订阅", "不想再收到", "不要再收到"),
    _en("unsubscribe", "opt me out", "opt out", "opt-out", "stop (?:texting|messaging|sending|contacting|"
        "these|the messages|messages|texts|sms)", "(?:do not|don't|dont) (?:text|message|sms|contact) me",
        "remove me", "please stop", "stop please", "stop it", "stop now"),
)
# STOP shouted in capitals is an opt-out wherever it stands ("STOP, I already paid").
_SHOUTED_OPT_OUT = re.compile(r"(?<![A-Za-z])(?:STOP|STOPALL|UNSUBSCRIBE)(?![A-Za-z])")
_OPT_IN_ALONE = {"start", "unstop", "subscribe", "resubscribe", "订阅", "重新订阅", "恢复订阅"}
_OPT_IN = (
    _any("重新订阅", "恢复订阅", "恢复短信", "继续发送", r"(?<!没有)(?<![没不未别])订阅"),
    _en("resubscribe", "opt me in", "opt in", "opt-in", "start again", "start please", "please start",
        "start sending", "subscribe again"),
)
_HELP_ALONE = {"help", "info", "帮助", "求助", "人工", "客服", "人工客服", "人工服务"}

# Paid, said outright (已经交了, 交过了, 缴清) or in plain past tense (我交了) with no future in sight.
_PAID = (
    _any(r"已经?(?:交|缴|付|支付|转账|转|还)(?![不没])", r"(?<![没未不])(?:交|缴|付)过(?![去来])",
         r"(?<![没未不])(?:交|缴|付|还)清了", r"早就?(?:交|缴|付)了", r"刚刚?(?:交|缴|付|转)"),
    _en("already paid", "paid already", "paid it already", r"(?:i|we)(?:'ve| have| had)? (?:already )?paid",
        "has been paid", "have been paid", r"(?:payment|it|bill)(?: was| has been) (?:made|sent|settled)",
        "already (?:settled|transferred|sent)"),
)
_PAID_ALONE = {"paid", "已交", "已缴", "已付", "交了", "缴了", "付了"}
_PAID_PLAIN = re.compile(r"(?<![没未不])(?:交|缴|付|转)(?:好)?了")
_FUTURE = re.compile(r"明|后天|下|过|就|再|会|要|准备|打算|等")

# A service problem; the first category that matches names it (lifts and leaks before repairs).
_COMPLAINTS = (
    ("lifts", _any("电梯"), _en("lifts?", "elevators?")),
    ("leaks", _any("漏水", "渗水", "漏雨", "渗漏", "滴水", "返潮", "发霉"),
     _en("leak(?:s|ing|ed)?", "seepage", "water damage", "damp", "mou?ld")),
    ("parking", _any("停车", "车位", "车库"), _en("parking", "car park")),
    ("noise", _any("噪音", "噪声", "太吵", "很吵", "吵死", "扰民"), _en("noise", "noisy", "too loud")),
    ("security", _any("保安", "门禁", "被偷", "被盗", "小偷", "失窃", "监控", "治安", "安保"),
     _en("security", "guards?", "theft", "stolen", "burglar(?:y|ies)?", "break-in")),
    ("cleaning", _any("卫生", "垃圾", "保洁", "打扫", "清洁", "太脏", "很脏", "脏乱"),
     _en("clean(?:ing|ed)?", "garbage", "rubbish", "trash", "dirty", "litter")),
    ("greenery", _any("绿化", "草坪", "树木", "修剪", "花草"), _en("greenery", "lawns?", "grass", "trees?",
                                                           "landscaping")),
    ("service_attitude", _any("态度", "骂人", "不理人", "爱理不理", "没人理", "没人管"),
     _en("rude", "attitude", "impolite", "unprofessional", "disrespectful", "yelled", "shouted")),
    ("repairs", _any("维修", "报修", "修好", "修理", "没修", "不修", "坏了", "损坏", "故障", "坏掉", "堵了",
                     "堵塞", "停水", "停电", "不亮"),
     _en("repairs?", "repaired", "broken", "fix", "fixed", "not working", "doesn't work", "out of order")),
    ("other", _any("投诉", "不满", "服务太差", "服务差", "太差了", "不作为"),
     _en("complain(?:t|ts|ing)?", "terrible service", "bad service", "poor service")),
)

_DISPUTE = (
    _any("金额不对", "金额有误", "数额不对", "账单不对", "账单有误", "算错", "多收", "多扣", "收错",
         "乱收费", "重复收费", "不合理", "凭什么", "为什么这么多", "为什么要交", "为什么收", "不认",
         "不该交", "不应该交", "不是我的", "没住", "没有住", "空置", "太贵", "收费太高", "有异议"),
    _en("wrong amount", "amount is wrong", "overcharg(?:e|ed|ing)", "incorrect", "bill is wrong",
        "not correct", "too (?:much|high|expensive)", "(?:do not|don't|dont) owe", "why do i owe",
        "dispute", "charged twice", "double charged", "not my bill", "never lived", "vacant"),
)
# Asking to pay in parts is hardship even when a day is named.
_INSTALMENTS = (
    _any("分[两二三四五六几]?期", "分[两二三四五六几]次", "分批", "先交一部分", "先交一半", "先付一部分"),
    _en("instal(?:l)?ments?", "payment plan", "pay in parts", "part payment", "partial payment",
        "split (?:the )?payments?", "monthly payments"),
)
# Cannot pay now: hardship, unless the owner also names a day (then it is a promise).
_CANNOT_PAY = (
    _any("交不起", "付不起", "没钱", "没有钱", "手头紧", "困难", "失业", "下岗", "生病", "住院", "资金紧张",
         "周转不开", "经济压力", "拿不出", "交不了", "付不了", "缓交", "延期", "宽限"),
    _en("can'?t afford", "cannot afford", "can not afford", "can'?t pay", "cannot pay", "can not pay",
        "unable to pay", "no money", "lost my job", "unemployed", "hardship", "struggling",
        "financial difficult(?:y|ies)", "short of money", "broke", "in hospital", "more time", "extension"),
)
_PAYING = (
    _any("交", "缴", "付", "还钱", "还款", "转账", "打款", "打钱", "结清", "给钱"),
    _en("pay", "paying", "payment", "settle", "transfer", "send (?:it|the money)", "clear (?:it|the bill)"),
)
# A promise without a day (过几天, soon): recorded as a promise; the owner is asked for a day.
_VAGUE = (
    _any("过几天", "过两天", "过一两天", "过段时间", "过阵子", "过些天", "过些日子", "改天", "晚点", "晚些",
         "迟点", "迟些", "晚几天", "几天后", "尽快", "尽早", "马上", "回头", "有空", "发工资", "这几天",
         "近期", "下周", "下个?星期", "下个?礼拜", "下个?月", "月初", "这周", "本周", "会交", "会缴",
         "再交", "就交", "去交", "一定交"),
    _en("soon", "later", "next week", "next month", "(?:in )?a few days", "(?:in )?a couple (?:of )?days",
        "asap", "as soon as (?:possible|i can)", "shortly", "when i (?:get|am) paid", "pay ?day",
        "some ?time", "eventually", "in a while", "this week", "this month", "i'll pay", "i will pay",
        "will pay", "going to pay", "gonna pay"),
)
# Asking whether or by when payment is due is a question, even with a day in it (月底前必须交吗?).
_DUE_QUESTION = (
    _any("必须", "需要", "要不要", "是不是要", "一定要", "截止", "最晚"),
    _en("do i (?:have|need) to", "must i", "is it due", "when is it due", "deadline", "latest"),
)
_QUESTION = (
    _any(r"\?", "吗", r"呢[.!。]*$", "怎么", "如何", "什么", "哪里", "哪儿", "多少", "几号", "能否", "是否", "请问",
         "可不可以", "能不能"),
    re.compile(r"^(?:how|what|when|where|why|who|which|can|could|do|does|is|are|should|may)(?![a-z])"),
)


def _found(patterns: tuple[re.Pattern, ...], clean: str) -> bool:
    return any(pattern.search(clean) for pattern in patterns)


def opts_out(clean: str, raw: str) -> bool:
    """STOP, TD, 退订 ... alone (or repeated: "STOP STOP"), an opt-out phrase, or STOP in capitals."""
    alone = bare(clean).split()
    if alone and all(bare(word) in _OPT_OUT_ALONE for word in alone):
        return True
    return _found(_OPT_OUT, clean) or bool(_SHOUTED_OPT_OUT.search(raw))


def opts_in(clean: str) -> bool:
    return bare(clean) in _OPT_IN_ALONE or (is_short(clean) and _found(_OPT_IN, clean))


def asks_for_help(clean: str) -> bool:
    return bare(clean) in _HELP_ALONE


def says_paid(clean: str) -> bool:
    if bare(clean) in _PAID_ALONE or _found(_PAID, clean):
        return True
    return bool(_PAID_PLAIN.search(clean)) and not _FUTURE.search(clean)


def complaint_category(clean: str) -> str | None:
    for category, *patterns in _COMPLAINTS:
        if _found(tuple(patterns), clean):
            return category
    return None


def disputes(clean: str) -> bool:
    return _found(_DISPUTE, clean)


def asks_for_instalments(clean: str) -> bool:
    return _found(_INSTALMENTS, clean)


def cannot_pay(clean: str) -> bool:
    return _found(_CANNOT_PAY, clean)


def mentions_paying(clean: str) -> bool:
    """Paying said positively: 付 in 付不起 or "pay" in "can't pay" is no word of paying."""
    for pattern in _CANNOT_PAY:
        clean = pattern.sub(" ", clean)
    return _found(_PAYING, clean)


def promises_vaguely(clean: str) -> bool:
    return _found(_VAGUE, clean)


def asks_when_due(clean: str) -> bool:
    return asks(clean) and _found(_DUE_QUESTION, clean)


def asks(clean: str) -> bool:
    return _found(_QUESTION, clean)

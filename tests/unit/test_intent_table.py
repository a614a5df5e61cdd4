"""How the gateway reads owners' replies: one table, every intent and date form, zh-CN and en."""
from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from services.gateway.intent import Reading, ask_for_a_day, read_reply

SHANGHAI = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 3, 16, 10, 0, tzinfo=SHANGHAI)
# 20:00 UTC on Sunday is already 04:00 on Monday in Shanghai: "tomorrow" is Tuesday.
SUNDAY_EVENING_UTC = datetime(2026, 3, 15, 20, 0, tzinfo=UTC)
SUNDAY = datetime(2026, 3, 22, 18, 0, tzinfo=SHANGHAI)
SATURDAY_MONTH_END = datetime(2026, 1, 31, 11, 0, tzinfo=SHANGHAI)
WEDNESDAY_20TH = datetime(2026, 5, 20, 9, 0, tzinfo=SHANGHAI)
FRIDAY_LATE_FEBRUARY = datetime(2026, 2, 27, 9, 0, tzinfo=SHANGHAI)
MONDAY_YEAR_END = datetime(2026, 12, 28, 9, 0, tzinfo=SHANGHAI)
LEAP_FEBRUARY = datetime(2028, 2, 10, 9, 0, tzinfo=SHANGHAI)


def promise(day: str | None, amount: str | None = None, language: str = "zh-CN") -> Reading:
    return Reading("promise_to_pay", date.fromisoformat(day) if day else None,
                   Decimal(amount) if amount else None, None, language)


def said(intent: str, language: str = "zh-CN", category: str | None = None) -> Reading:
    return Reading(intent, None, None, category, language)


def en(intent: str, category: str | None = None) -> Reading:
    return said(intent, "en", category)


def case(text: str, received_at: datetime, reading: Reading, name: str):
    return pytest.param(text, received_at, reading, id=name)


READINGS = [
    # Days in Chinese, counted from Monday 2026-03-16 unless said otherwise.
    case("明天交", MONDAY, promise("2026-03-17"), "zh-tomorrow"),
    case("明天交", SUNDAY_EVENING_UTC, promise("2026-03-17"), "zh-tomorrow-in-the-community-timezone"),
    case("后天交", MONDAY, promise("2026-03-18"), "zh-day-after-tomorrow"),
    case("大后天给你们转账", MONDAY, promise("2026-03-19"), "zh-the-day-after-the-day-after-tomorrow"),
    case("这个月手头紧，我下周五交", MONDAY, promise("2026-03-27"), "zh-next-friday-despite-tight-money"),
    case("下星期五交", SUNDAY, promise("2026-03-27"), "zh-next-friday-said-on-sunday"),
    case("这周六交", MONDAY, promise("2026-03-21"), "zh-this-saturday"),
    case("这周六交", SUNDAY, promise("2026-03-28"), "zh-this-saturday-already-past-means-the-coming-one"),
    case("这周六交", SATURDAY_MONTH_END, promise("2026-01-31"), "zh-this-saturday-said-on-saturday"),
    case("周五交", MONDAY, promise("2026-03-20"), "zh-bare-weekday-is-the-coming-one"),
    case("礼拜天交吧", MONDAY, promise("2026-03-22"), "zh-sunday"),
    case("周末交", MONDAY, promise("2026-03-21"), "zh-weekend"),
    case("周末交", SUNDAY, promise("2026-03-22"), "zh-weekend-said-at-the-weekend-is-today"),
    case("下周末交", SATURDAY_MONTH_END, promise("2026-02-07"), "zh-next-weekend"),
    case("月底交", MONDAY, promise("2026-03-31"), "zh-end-of-month"),
    case("月底交", FRIDAY_LATE_FEBRUARY, promise("2026-02-28"), "zh-end-of-february"),
    case("月底前一定交", LEAP_FEBRUARY, promise("2028-02-29"), "zh-end-of-february-in-a-leap-year"),
    case("下个月底交", LEAP_FEBRUARY, promise("2028-03-31"), "zh-end-of-next-month"),
    case("下个月5号交", MONDAY, promise("2026-04-05"), "zh-next-month-5th"),
    case("下个月五号交", MONDAY_YEAR_END, promise("2027-01-05"), "zh-next-month-5th-across-the-year"),
    case("下个月31号交", SATURDAY_MONTH_END, promise("2026-02-28"), "zh-next-month-31st-is-its-last-day"),
    case("20号交", MONDAY, promise("2026-03-20"), "zh-day-of-month-still-ahead"),
    case("15号交", MONDAY, promise("2026-04-15"), "zh-day-of-month-passed-means-next-month"),
    case("十五号交", WEDNESDAY_20TH, promise("2026-06-15"), "zh-chinese-15th-received-on-the-20th"),
    case("25日交", WEDNESDAY_20TH, promise("2026-05-25"), "zh-25th-this-month"),
    case("15号交", MONDAY_YEAR_END, promise("2027-01-15"), "zh-15th-passed-in-december-is-january"),
    case("30号交", FRIDAY_LATE_FEBRUARY, promise("2026-02-28"), "zh-30th-in-february-is-its-last-day"),
    case("十二月二十日交", MONDAY, promise("2026-12-20"), "zh-chinese-month-day"),
    case("12月20号交", MONDAY, promise("2026-12-20"), "zh-digit-month-day"),
    case("十二月二十日交", MONDAY_YEAR_END, promise("2027-12-20"), "zh-month-day-passed-means-next-year"),
    case("一月三日交", MONDAY_YEAR_END, promise("2027-01-03"), "zh-january-said-in-december"),
    case("二月二十九日交", LEAP_FEBRUARY, promise("2028-02-29"), "zh-leap-day"),
    case("3天后交", MONDAY, promise("2026-03-19"), "zh-3-days-later"),
    case("三天后交", MONDAY, promise("2026-03-19"), "zh-three-days-later-in-chinese"),
    case("五天之内交", MONDAY_YEAR_END, promise("2027-01-02"), "zh-within-five-days-across-the-year"),
    case("两周后交", MONDAY, promise("2026-03-30"), "zh-two-weeks-later"),
    case("年底前交清", MONDAY, promise("2026-12-31"), "zh-before-year-end"),
    case("今天下午就去交", MONDAY, promise("2026-03-16"), "zh-today"),
    case("下周五", MONDAY, promise("2026-03-27"), "zh-a-day-alone-is-a-promise"),
    # Days in English.
    case("I'll pay tomorrow", MONDAY, promise("2026-03-17", language="en"), "en-tomorrow"),
    case("tomorrow", SUNDAY_EVENING_UTC, promise("2026-03-17", language="en"),
         "en-tomorrow-in-the-community-timezone"),
    case("I can pay the day after tomorrow", MONDAY, promise("2026-03-18", language="en"),
         "en-day-after-tomorrow"),
    case("I will pay next Friday", MONDAY, promise("2026-03-27", language="en"), "en-next-friday"),
    case("Next Friday", MONDAY_YEAR_END, promise("2027-01-08", language="en"), "en-next-friday-across-the-year"),
    case("I'll pay on Friday", MONDAY, promise("2026-03-20", language="en"), "en-on-friday"),
    case("Will pay this Saturday", SUNDAY, promise("2026-03-28", language="en"), "en-this-saturday-from-sunday"),
    case("I'll pay this weekend", MONDAY, promise("2026-03-21", language="en"), "en-this-weekend"),
    case("Paying next weekend", SATURDAY_MONTH_END, promise("2026-02-07", language="en"), "en-next-weekend"),
    case("I'll pay on the 15th", MONDAY, promise("2026-04-15", language="en"), "en-15th-passed-means-next-month"),
    case("on the 15th", WEDNESDAY_20TH, promise("2026-06-15", language="en"), "en-15th-received-on-the-20th"),
    case("I'll pay on the 20th", MONDAY, promise("2026-03-20", language="en"), "en-20th-still-ahead"),
    case("I'll pay on the 5th of next month", MONDAY_YEAR_END, promise("2027-01-05", language="en"),
         "en-5th-of-next-month-across-the-year"),
    case("I'll pay by the end of the month", MONDAY, promise("2026-03-31", language="en"), "en-end-of-month"),
    case("end of the month", LEAP_FEBRUARY, promise("2028-02-29", language="en"), "en-end-of-leap-february"),
    case("Will pay Dec 20", MONDAY, promise("2026-12-20", language="en"), "en-month-day"),
    case("I will pay on 20 Dec", MONDAY, promise("2026-12-20", language="en"), "en-day-month"),
    case("I'll pay on December 20th", MONDAY_YEAR_END, promise("2027-12-20", language="en"),
         "en-month-day-passed-means-next-year"),
    case("I'll pay in 3 days", MONDAY, promise("2026-03-19", language="en"), "en-in-3-days"),
    case("I'll pay in three days", MONDAY_YEAR_END, promise("2026-12-31", language="en"),
         "en-in-three-days-in-words"),
    case("I'll pay in a week", MONDAY, promise("2026-03-23", language="en"), "en-in-a-week"),
    case("I'll pay by the end of the year", MONDAY, promise("2026-12-31", language="en"), "en-end-of-year"),
    case("Paying today", MONDAY, promise("2026-03-16", language="en"), "en-today"),
    # Amounts beside the day.
    case("下周五交1500", MONDAY, promise("2026-03-27", "1500"), "zh-amount-in-digits"),
    case("十五号交一千五百元", MONDAY, promise("2026-04-15", "1500"), "zh-amount-in-chinese-numerals"),
    case("月底交两千八百六十点五", MONDAY, promise("2026-03-31", "2860.50"), "zh-amount-with-decimal"),
    case("明天先交¥800", MONDAY, promise("2026-03-17", "800"), "zh-amount-with-yen-sign"),
    case("我是3号楼的，明天交", MONDAY, promise("2026-03-17"), "zh-building-number-is-neither-day-nor-amount"),
    case("下周五交两个月的", MONDAY, promise("2026-03-27"), "zh-months-counted-are-no-amount"),
    case("I'll pay 2,860.50 on Friday", MONDAY, promise("2026-03-20", "2860.50", "en"), "en-amount-grouped"),
    case("I will pay RMB 1,200 tomorrow", MONDAY, promise("2026-03-17", "1200", "en"), "en-amount-in-rmb"),
    case("pay 500 yuan on the 20th", MONDAY, promise("2026-03-20", "500", "en"), "en-amount-in-yuan"),
    # Promises with no day: recorded without one, and the owner is asked for a day.
    case("过几天交", MONDAY, promise(None), "zh-vague-in-a-few-days"),
    case("过两天就交", MONDAY, promise(None), "zh-vague-in-a-couple-of-days"),
    case("下周交吧", MONDAY, promise(None), "zh-vague-next-week-without-a-day"),
    case("过几天交1000", MONDAY, promise(None, "1000"), "zh-vague-with-an-amount"),
    case("soon", MONDAY, promise(None, language="en"), "en-vague-soon"),
    case("I'll pay later", MONDAY, promise(None, language="en"), "en-vague-later"),
    case("I will pay next week", MONDAY, promise(None, language="en"), "en-vague-next-week-without-a-day"),
    # Already paid.
    case("我已经交了", MONDAY, said("paid_already"), "zh-paid-already"),
    case("我已经交不起了", MONDAY, said("hardship"), "zh-already-unable-to-pay-is-no-payment"),
    case("上周已经缴清", MONDAY, said("paid_already"), "zh-paid-in-full-last-week"),
    case("昨天交了", MONDAY, said("paid_already"), "zh-paid-yesterday"),
    case("我还没交，月底交", MONDAY, promise("2026-03-31"), "zh-not-yet-paid-is-no-payment"),
    case("I already paid", MONDAY, en("paid_already"), "en-paid-already"),
    case("Paid.", MONDAY, en("paid_already"), "en-paid-alone"),
    case("I have paid, why do I still get these?", MONDAY, en("paid_already"), "en-paid-beats-question"),
    # Complaints, with their category; a promise on condition is still a complaint.
    case("电梯修好了我就交", MONDAY, said("complaint", category="lifts"), "zh-fix-the-lift-and-i-pay"),
    case("楼上漏水一个月了没人管，下周五再说", MONDAY, said("complaint", category="leaks"), "zh-leak"),
    case("小区垃圾堆了好几天", MONDAY, said("complaint", category="cleaning"), "zh-cleaning"),
    case("门禁坏了，外人随便进", MONDAY, said("complaint", category="security"), "zh-security"),
    case("车位天天被占", MONDAY, said("complaint", category="parking"), "zh-parking"),
    case("楼下装修太吵了", MONDAY, said("complaint", category="noise"), "zh-noise"),
    case("绿化没人修剪", MONDAY, said("complaint", category="greenery"), "zh-greenery"),
    case("前台态度太差", MONDAY, said("complaint", category="service_attitude"), "zh-service-attitude"),
    case("水管坏了一直没修", MONDAY, said("complaint", category="repairs"), "zh-repairs"),
    case("我要投诉", MONDAY, said("complaint", category="other"), "zh-complaint-without-a-category"),
    case("Fix the lift and I'll pay on Friday", MONDAY, en("complaint", "lifts"), "en-fix-the-lift-and-i-pay"),
    case("There is a leak in my ceiling", MONDAY, en("complaint", "leaks"), "en-leak"),
    case("Your staff were rude to me", MONDAY, en("complaint", "service_attitude"), "en-service-attitude"),
    case("The door has been broken for weeks", MONDAY, en("complaint", "repairs"), "en-repairs"),
    case("I want to complain", MONDAY, en("complaint", "other"), "en-complaint-without-a-category"),
    # Disputes: the amount or the fee itself is contested.
    case("金额不对，我没欠这么多", MONDAY, said("dispute", category="billing_dispute"), "zh-wrong-amount"),
    case("为什么这么多？", MONDAY, said("dispute", category="billing_dispute"), "zh-why-so-much"),
    case("房子空置没住，不该交", MONDAY, said("dispute", category="billing_dispute"), "zh-vacant-unit"),
    case("You overcharged me", MONDAY, en("dispute", "billing_dispute"), "en-overcharged"),
    case("The amount is wrong, please cancel it", MONDAY, en("dispute", "billing_dispute"),
         "en-cancel-in-a-sentence-is-no-opt-out"),
    # Hardship: cannot pay now, or asks to pay in parts.
    case("能不能分期付款", MONDAY, said("hardship"), "zh-instalments"),
    case("能分三期吗，下个月5号开始", MONDAY, said("hardship"), "zh-instalments-beat-a-named-day"),
    case("失业了，交不起", MONDAY, said("hardship"), "zh-cannot-afford"),
    case("手头紧，这个月交不了", MONDAY, said("hardship"), "zh-cannot-pay-this-month"),
    case("Can I pay in installments?", MONDAY, en("hardship"), "en-instalments"),
    case("I lost my job and can't afford it", MONDAY, en("hardship"), "en-cannot-afford"),
    case("I cant pay this month", MONDAY, en("hardship"), "en-cannot-pay-without-apostrophe"),
    case("help, I can't pay", MONDAY, en("hardship"), "en-help-in-a-sentence-is-no-help-keyword"),
    # Questions.
    case("物业费怎么交？", MONDAY, said("question"), "zh-how-to-pay"),
    case("下周有人来吗？", MONDAY, said("question"), "zh-a-question-about-next-week-is-no-promise"),
    case("月底前必须交吗？", MONDAY, said("question"), "zh-asking-when-payment-is-due-is-no-promise"),
    case("How do I pay?", MONDAY, en("question"), "en-how-to-pay"),
    case("Do I have to pay by Friday?", MONDAY, en("question"), "en-asking-when-payment-is-due-is-no-promise"),
    case("R u there?", MONDAY, en("question"), "en-r-in-a-sentence-is-no-opt-out"),
    # Opt-out, alone or in a short sentence; it beats everything else.
    case("STOP", MONDAY, en("opt_out"), "en-stop"),
    case("stop!", MONDAY, en("opt_out"), "en-stop-lower-case"),
    case("Stop texting me", MONDAY, en("opt_out"), "en-stop-in-a-sentence"),
    case("STOP STOP", MONDAY, en("opt_out"), "en-stop-repeated"),
    case("STOP, I already paid", MONDAY, en("opt_out"), "en-stop-in-capitals-beats-paid"),
    case("UNSUBSCRIBE", MONDAY, en("opt_out"), "en-unsubscribe"),
    case("END", MONDAY, en("opt_out"), "en-end-alone"),
    case("Quit", MONDAY, en("opt_out"), "en-quit"),
    case("CANCEL", MONDAY, en("opt_out"), "en-cancel-alone"),
    case("退订", MONDAY, said("opt_out"), "zh-unsubscribe"),
    case("TD", MONDAY, said("opt_out"), "zh-td"),
    case("td", MONDAY, said("opt_out"), "zh-td-lower-case"),
    case("T", MONDAY, said("opt_out"), "zh-t-alone"),
    case("R", MONDAY, said("opt_out"), "zh-r-alone"),
    case("拒收", MONDAY, said("opt_out"), "zh-refuse"),
    case("不要再发了", MONDAY, said("opt_out"), "zh-do-not-send-again"),
    case("不要再发短信了，电梯修好再说", MONDAY, said("opt_out"), "zh-opt-out-beats-complaint"),
    case("取消订阅", MONDAY, said("opt_out"), "zh-cancel-subscription-is-no-opt-in"),
    # Opt-in.
    case("START", MONDAY, en("opt_in"), "en-start-is-not-stop"),
    case("UNSTOP", MONDAY, en("opt_in"), "en-unstop"),
    case("订阅", MONDAY, said("opt_in"), "zh-subscribe"),
    case("我要重新订阅", MONDAY, said("opt_in"), "zh-subscribe-again"),
    # Help.
    case("HELP", MONDAY, en("help"), "en-help"),
    case("帮助", MONDAY, said("help"), "zh-help"),
    # Nothing to act on.
    case("I'll pay at the end of the month", MONDAY, promise("2026-03-31", language="en"),
         "en-end-in-a-sentence-is-no-opt-out"),
    case("好的，谢谢", MONDAY, said("unknown"), "zh-thanks"),
    case("ok", MONDAY, en("unknown"), "en-ok"),
    case("", MONDAY, said("unknown"), "empty"),
]


@pytest.mark.parametrize("text, received_at, reading", READINGS)
def test_a_reply_is_read_into_its_intent_day_amount_and_category(text, received_at, reading):
    assert read_reply(text, received_at, "Asia/Shanghai") == reading


def test_a_promise_without_a_day_is_answered_in_the_owners_language():
    assert "哪一天" in ask_for_a_day("zh-CN")
    assert "exact day" in ask_for_a_day("en")


def test_a_reply_time_without_an_offset_is_refused():
    with pytest.raises(ValueError, match="offset"):
        read_reply("明天交", datetime(2026, 3, 16, 10, 0), "Asia/Shanghai")

"""The timeline as one printable HTML document, in the owner's language."""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from jinja2 import Environment

from services.cases.timeline.record import CaseRecord, Entry

LABELS = {
    "zh-CN": {
        "title": "催收案件证据记录", "case": "案件编号", "community": "小区", "owner": "业主", "units": "房号",
        "contacts": "联系方式", "amount_owed": "欠款金额", "amount_recovered": "已回收金额", "status": "状态",
        "stage": "当前阶段", "generated": "导出时间", "exported_by": "导出人", "time": "时间", "event": "事件",
        "details": "详情", "day_only": "（仅日期）", "whole_amount": "全部欠款", "none": "无记录",
        "case_opened": "立案", "case_closed": "结案", "stage_entered": "进入催收阶段", "message": "发送消息",
        "reply": "业主回复", "promise_made": "承诺付款", "promise_resolved": "承诺结果", "issue": "业主问题",
        "payment": "缴费", "assigned": "分派", "note": "审批与备注", "staff_task": "员工任务",
        "opened_by": "立案人", "reason": "原因", "channel": "渠道", "address": "地址", "error_code": "错误代码",
        "provider": "服务商", "provider_message_id": "服务商消息编号", "notification_id": "通知编号",
        "body": "内容", "intent": "意图", "promised_date": "承诺日期", "amount": "金额", "owed": "当时欠款",
        "source": "来源", "issue_id": "问题编号", "category": "类别", "actor": "操作人", "description": "描述",
        "deadline_at": "处理期限", "receipt": "收据号", "unit": "房号", "staff": "员工", "group": "小组",
        "assigned_by": "分派人", "ended_at": "结束时间", "kind": "类型", "detail": "内容", "task": "任务",
        "done_at": "完成时间", "history": "投递记录",
    },
    "en": {
        "title": "Collection case record", "case": "Case", "community": "Community", "owner": "Owner",
        "units": "Units", "contacts": "Contacts", "amount_owed": "Amount owed",
        "amount_recovered": "Amount recovered", "status": "Status", "stage": "Current stage",
        "generated": "Exported at", "exported_by": "Exported by", "time": "Time", "event": "Event",
        "details": "Details", "day_only": "(day only)", "whole_amount": "the whole amount", "none": "Nothing recorded",
        "history": "delivery history",
    },
}
VALUES = {
    "zh-CN": {
        "reminder": "催费提醒", "notice": "催费函", "lawyer_letter": "律师函", "follow_up_letter": "律师函后函",
        "legal_review": "法务审查", "open": "处理中", "closed": "已结案", "paid": "已付清", "kept": "已兑现",
        "broken": "未兑现", "replaced": "已被新承诺取代", "in_progress": "处理中", "resolved": "已解决",
        "sms": "短信", "email": "邮件", "letter": "信函", "staff": "员工", "form": "回复表",
        "due": "到期升级", "promise_broken": "承诺未兑现", "approval": "审批",
        "queued": "排队中", "sending": "发送中", "sent": "已发送", "delivered": "已送达", "undelivered": "未送达",
        "failed": "发送失败", "read": "已读", "processed": "已受理", "deferred": "延迟投递", "bounce": "退信",
        "dropped": "未投递", "click": "已点击", "printed": "已打印", "posted": "已寄出",
    },
    "en": {},
}
# A message's own "open" is an email opened, not a case still open.
DELIVERY_VALUES = {"zh-CN": {**VALUES["zh-CN"], "open": "已打开"}, "en": {}}
_TEMPLATE = """<!DOCTYPE html>
<html lang="{{ locale }}"><head><meta charset="utf-8"><title>{{ t.title }} {{ case.id }}</title>
<style>
body{font-family:"Noto Sans CJK SC","Microsoft YaHei",sans-serif;font-size:11pt;margin:2em;color:#000}
h1{font-size:16pt}table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:4px;
vertical-align:top;text-align:left}th{background:#eee}dl{margin:0}dt{font-weight:bold;display:inline}
dd{display:inline;margin:0 1em 0 .3em;white-space:pre-wrap}@media print{body{margin:0}tr{page-break-inside:avoid}}
</style></head><body>
<h1>{{ t.title }}</h1>
<table>
<tr><th>{{ t.case }}</th><td>{{ case.id }}</td><th>{{ t.community }}</th><td>{{ community.name }}</td></tr>
<tr><th>{{ t.owner }}</th><td>{{ owner.name }}</td><th>{{ t.units }}</th>
<td>{% for u in units %}{{ u.building }}-{{ u.number }}{% if not loop.last %}, {% endif %}{% endfor %}</td></tr>
<tr><th>{{ t.contacts }}</th><td colspan="3">{% for c in contacts %}{{ v(c.channel) }} {{ c.address }}
({{ c.status }}){% if not loop.last %}; {% endif %}{% endfor %}</td></tr>
<tr><th>{{ t.amount_owed }}</th><td>{{ case.amount_owed }}</td><th>{{ t.amount_recovered }}</th>
<td>{{ case.amount_recovered }}</td></tr>
<tr><th>{{ t.status }}</th><td>{{ v(case.status) }}</td><th>{{ t.stage }}</th><td>{{ v(case.stage) }}</td></tr>
<tr><th>{{ t.generated }}</th><td>{{ generated }}</td><th>{{ t.exported_by }}</th><td>{{ exported_by }}</td></tr>
</table>
<h2>{{ t.event }}</h2>
<table><thead><tr><th>{{ t.time }}</th><th>{{ t.event }}</th><th>{{ t.details }}</th></tr></thead><tbody>
{% for e in entries %}<tr><td>{{ e.when }}</td><td>{{ label(e.kind) }}</td><td><dl>
{% for key, value in e.details %}<dt>{{ label(key) }}</dt><dd>{{ value }}</dd>{% endfor %}</dl></td></tr>
{% else %}<tr><td colspan="3">{{ t.none }}</td></tr>{% endfor %}
</tbody></table></body></html>
"""


_DOCUMENT = Environment(autoescape=True).from_string(_TEMPLATE)


def _words(locale: str) -> tuple[dict, dict]:
    return (LABELS.get(locale, LABELS["en"]), VALUES.get(locale, {}))


def _shown(key: str, value, labels: dict, values: dict, names: dict) -> str:
    if value is None:
        return labels["whole_amount"] if key == "amount" else ""
    if key == "history":  # each reported status, when it happened: "已发送 2026-10-01 09:30; 已送达 ..."
        words = DELIVERY_VALUES["zh-CN"] if values is VALUES["zh-CN"] else {}
        return "; ".join(" ".join(part for part in (words.get(step["status"], step["status"]),
                                                     str(step["at"])[:16].replace("T", " "),
                                                     step.get("error_code") or "") if part)
                         for step in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_shown(k, v, labels, values, names)}" for k, v in value.items() if v is not None)
    text = str(value)
    if key.endswith("_at") and "T" in text:
        return text[:16].replace("T", " ")
    if key in ("actor", "opened_by", "assigned_by"):
        return names.get(text, text)
    return values.get(text, text)


def _when(entry: Entry, labels: dict) -> str:
    return f"{entry.on.isoformat()} {labels['day_only']}" if entry.at is None else entry.at.strftime("%Y-%m-%d %H:%M")


def render_html(record: CaseRecord, generated_at: datetime, exported_by: str, names: dict[str, str]) -> str:
    """One self-contained printable HTML document in the owner's language (every value escaped)."""
    locale = record.owner.get("locale") or "zh-CN"
    labels, values = _words(locale)
    entries = [{
        "when": _when(e, labels), "kind": e.kind,
        "details": [(k, _shown(k, v, labels, values, names)) for k, v in e.detail.items()
                    if v is not None or (k == "amount" and e.kind == "promise_made")],
    } for e in record.entries]
    zone = ZoneInfo(record.community["timezone"])
    return _DOCUMENT.render(
        locale=locale, t=labels, case=record.case, owner=record.owner, units=record.units,
        contacts=record.contacts, community=record.community, entries=entries,
        generated=generated_at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z"), exported_by=names.get(
            exported_by, exported_by),
        label=lambda key: labels.get(key, key.replace("_", " ")), v=lambda value: values.get(value, value),
    )

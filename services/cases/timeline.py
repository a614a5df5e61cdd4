"""A case's timeline: everything that happened to it, in order, as evidence for a court.

Each kind of event is read from the table that records it. Some are known only by their day
(stage moves, payments, a promise's outcome); among the events of one day they come first, in
the order payment, promise outcome, stage move, and the events known to the second follow.
Delivery status is the latest one reported: the cases database keeps no status history.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from jinja2 import Environment
from sqlalchemy import Connection, or_, select

from services.cases.tables import (
    case_assignments,
    case_messages,
    case_notes,
    cases,
    collection_groups,
    communities,
    issue_history,
    owner_contacts,
    owner_issues,
    owner_replies,
    owners,
    payments,
    promises,
    staff,
    staff_tasks,
    stage_moves,
    units,
)

DAY_ONLY_ORDER = ("payment", "promise_resolved", "stage_entered")


@dataclass(frozen=True)
class Entry:
    on: date  # the community's local day
    at: datetime | None  # None: only the day is known
    kind: str
    detail: dict  # plain JSON values: strings, numbers, None

    def sort_key(self) -> tuple:
        if self.at is None:
            return self.on, 0, DAY_ONLY_ORDER.index(self.kind), 0.0
        return self.on, 1, 0, self.at.timestamp()


@dataclass(frozen=True)
class CaseRecord:
    case: dict
    owner: dict
    contacts: list[dict]
    units: list[dict]
    community: dict
    entries: list[Entry]


def plain(value):
    """A JSON-ready form of a database value."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


class _Clock:
    def __init__(self, timezone: str):
        self.zone = ZoneInfo(timezone)

    def timed(self, at: datetime, kind: str, /, **detail) -> Entry:
        local = at.astimezone(self.zone)
        return Entry(local.date(), local, kind, self._plain(detail))

    def dated(self, on: date, kind: str, /, **detail) -> Entry:
        return Entry(on, None, kind, self._plain(detail))

    def _plain(self, detail: dict) -> dict:
        return plain({k: v.astimezone(self.zone) if isinstance(v, datetime) else v for k, v in detail.items()})


def _rows(connection: Connection, query) -> list:
    return connection.execute(query).all()


def _opened_and_closed(clock: _Clock, case, first_stage) -> list[Entry]:
    found = [clock.timed(case.opened_at, "case_opened", opened_by=case.opened_by,
                         stage=first_stage.stage if first_stage else None)]
    if case.closed_at is not None:
        found.append(clock.timed(case.closed_at, "case_closed", reason=case.closed_reason))
    return found


def _stage_moves(clock: _Clock, moves) -> list[Entry]:
    # Entering the first stage is part of opening the case.
    return [clock.dated(m.entered_on, "stage_entered", stage=m.stage, reason=m.reason)
            for m in moves if m.reason != "opened"]


def _messages(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    m = case_messages.c
    return [clock.timed(row.updated_at, "message", channel=row.channel, address=row.address,
                        status=row.status, error_code=row.error_code, provider=row.provider,
                        provider_message_id=row.provider_message_id, notification_id=row.notification_id)
            for row in _rows(connection, select(case_messages).where(m.case_id == case_id))]


def _replies(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    return [clock.timed(row.received_at, "reply", channel=row.channel, body=row.body, intent=row.intent)
            for row in _rows(connection, select(owner_replies).where(owner_replies.c.case_id == case_id))]


def _promises(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    found = []
    for row in _rows(connection, select(promises).where(promises.c.case_id == case_id)):
        found.append(clock.timed(row.created_at, "promise_made", promised_date=row.promised_date,
                                 amount=row.amount, owed=row.owed_when_made, source=row.source))
        if row.resolved_on is not None:
            found.append(clock.dated(row.resolved_on, "promise_resolved", status=row.status,
                                     promised_date=row.promised_date))
    return found


def _issues(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(owner_issues, issue_history.c.status.label("step"), issue_history.c.actor,
                                    issue_history.c.note, issue_history.c.at)
                 .join(issue_history, issue_history.c.issue_id == owner_issues.c.id)
                 .where(owner_issues.c.case_id == case_id).order_by(issue_history.c.id))
    seen: set[str] = set()
    found = []
    for row in rows:
        first = row.id not in seen
        seen.add(row.id)
        extra = {"description": row.description, "deadline_at": row.deadline_at, "source": row.source} \
            if first else {}
        found.append(clock.timed(row.at, "issue", issue_id=row.id, category=row.category, status=row.step,
                                 actor=row.actor, note=row.note, **extra))
    return found


def _payments(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(payments, units.c.building, units.c.number)
                 .join(units, units.c.id == payments.c.unit_id).where(payments.c.case_id == case_id))
    return [clock.dated(row.paid_on, "payment", amount=row.amount, receipt=row.external_ref, source=row.source,
                        unit=f"{row.building}-{row.number}") for row in rows]


def _assignments(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    rows = _rows(connection, select(case_assignments, staff.c.name.label("staff_name"),
                                    collection_groups.c.name.label("group_name"))
                 .outerjoin(staff, staff.c.id == case_assignments.c.staff_id)
                 .outerjoin(collection_groups, collection_groups.c.id == case_assignments.c.group_id)
                 .where(case_assignments.c.case_id == case_id))
    return [clock.timed(row.assigned_at, "assigned", staff=row.staff_name, group=row.group_name,
                        reason=row.reason, owed=row.amount_owed_at_assignment, assigned_by=row.assigned_by,
                        ended_at=row.ended_at) for row in rows]


def _notes(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    return [clock.timed(row.at, "note", kind=row.kind, detail=row.detail, actor=row.actor)
            for row in _rows(connection, select(case_notes).where(case_notes.c.case_id == case_id))]


def _tasks(connection: Connection, clock: _Clock, case_id: str) -> list[Entry]:
    return [clock.timed(row.created_at, "staff_task", task=row.kind, status=row.status, done_at=row.done_at)
            for row in _rows(connection, select(staff_tasks).where(staff_tasks.c.case_id == case_id))]


def case_timeline(connection: Connection, case_id: str) -> CaseRecord | None:
    """The case, its owner and every event about it, oldest first."""
    case = connection.execute(select(cases).where(cases.c.id == case_id)).first()
    if case is None:
        return None
    community = connection.execute(select(communities.c.id, communities.c.name, communities.c.timezone)
                                   .where(communities.c.id == case.community)).one()
    clock = _Clock(community.timezone)
    moves = _rows(connection, select(stage_moves).where(stage_moves.c.case_id == case_id)
                  .order_by(stage_moves.c.entered_on))
    entries = [*_opened_and_closed(clock, case, moves[0] if moves else None), *_stage_moves(clock, moves)]
    for source in (_messages, _replies, _promises, _issues, _payments, _assignments, _notes, _tasks):
        entries.extend(source(connection, clock, case_id))
    owner = connection.execute(select(owners).where(owners.c.id == case.owner_id)).mappings().one()
    return CaseRecord(
        case=plain(dict(case._mapping)), owner=plain(dict(owner)),
        contacts=[plain(dict(r._mapping)) for r in _rows(connection, select(
            owner_contacts.c.channel, owner_contacts.c.address, owner_contacts.c.status)
            .where(owner_contacts.c.owner_id == case.owner_id).order_by(owner_contacts.c.channel))],
        units=[dict(r._mapping) for r in _rows(connection, select(units.c.building, units.c.number).where(
            units.c.owner_id == case.owner_id, units.c.community == case.community)
            .order_by(units.c.building, units.c.number))],
        community=plain(dict(community._mapping)),
        entries=sorted(entries, key=Entry.sort_key),
    )


def staff_names(connection: Connection, actors: set[str]) -> dict[str, str]:
    """Staff names for the ids or usernames that appear as actors."""
    rows = _rows(connection, select(staff.c.id, staff.c.username, staff.c.name)
                 .where(or_(staff.c.id.in_(sorted(actors)), staff.c.username.in_(sorted(actors)))))
    return {key: row.name for row in rows for key in (row.id, row.username)}


# --- the printable document ---------------------------------------------------------------------

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
        "done_at": "完成时间",
    },
    "en": {
        "title": "Collection case record", "case": "Case", "community": "Community", "owner": "Owner",
        "units": "Units", "contacts": "Contacts", "amount_owed": "Amount owed",
        "amount_recovered": "Amount recovered", "status": "Status", "stage": "Current stage",
        "generated": "Exported at", "exported_by": "Exported by", "time": "Time", "event": "Event",
        "details": "Details", "day_only": "(day only)", "whole_amount": "the whole amount", "none": "Nothing recorded",
    },
}
VALUES = {
    "zh-CN": {
        "reminder": "催费提醒", "notice": "催费函", "lawyer_letter": "律师函", "follow_up_letter": "律师函后函",
        "legal_review": "法务审查", "open": "处理中", "closed": "已结案", "paid": "已付清", "kept": "已兑现",
        "broken": "未兑现", "replaced": "已被新承诺取代", "in_progress": "处理中", "resolved": "已解决",
        "sms": "短信", "email": "邮件", "letter": "信函", "staff": "员工", "form": "回复表",
        "due": "到期升级", "promise_broken": "承诺未兑现", "approval": "审批",
    },
    "en": {},
}
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

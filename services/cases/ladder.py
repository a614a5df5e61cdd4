"""The escalation ladder and the daily decision for one case (standard library only).

催费函 → 律师函 → 律师函后函: a case climbs one stage at a time, never skipping a notice the
owner is owed and never entering a stage twice. Promises and open complaints pause it; a broken
promise escalates it at once; some stages wait for a person's approval.
"""
from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, timedelta

STAGES = ("reminder", "notice", "lawyer_letter", "follow_up_letter", "legal_review")
ANCHORS = ("due_date", "previous_stage")
CHANNELS = ("sms", "email", "letter")


@dataclass(frozen=True)
class Stage:
    name: str
    offset_days: int  # days after the anchor before the case may enter this stage
    anchor: str  # "due_date" or "previous_stage"
    channels: tuple[str, ...]
    template: str
    repeat_every_days: int  # while in the stage; 0 means only on entry
    sends_per_day: int
    needs_approval: bool


DEFAULT_LADDER: tuple[Stage, ...] = (
    Stage("reminder", 1, "due_date", ("sms", "email"), "reminder", 3, 1, False),
    Stage("notice", 30, "due_date", ("letter", "email", "sms"), "notice", 7, 1, False),
    Stage("lawyer_letter", 30, "previous_stage", ("letter", "email", "sms"), "lawyer_letter", 0, 1, False),
    Stage("follow_up_letter", 21, "previous_stage", ("letter", "email", "sms"), "follow_up_letter", 0, 1, False),
    Stage("legal_review", 30, "previous_stage", (), "legal_review", 0, 0, True),
)
# A key owner (核心人物) never receives a lawyer's letter without a manager's say-so.
KEY_OWNER_GATE = "lawyer_letter"
RESUME_GRACE_DAYS = 3


class LadderError(ValueError):
    """A community's ladder override does not describe a usable ladder."""


def ladder_for(overrides: dict | None) -> tuple[Stage, ...]:
    """The default ladder with a community's per-stage overrides applied and checked."""
    overrides = overrides or {}
    unknown = set(overrides) - set(STAGES)
    if unknown:
        raise LadderError(f"unknown stages: {sorted(unknown)}")
    allowed = {f.name for f in fields(Stage)} - {"name"}
    ladder = []
    for stage in DEFAULT_LADDER:
        change = dict(overrides.get(stage.name, {}))
        bad = set(change) - allowed
        if bad:
            raise LadderError(f"{stage.name}: unknown settings {sorted(bad)}")
        if "channels" in change:
            change["channels"] = tuple(change["channels"])
        ladder.append(replace(stage, **change))
    for stage in ladder:
        _check(stage)
    return tuple(ladder)


def _check(stage: Stage) -> None:
    if stage.anchor not in ANCHORS:
        raise LadderError(f"{stage.name}: anchor must be one of {ANCHORS}")
    if not set(stage.channels) <= set(CHANNELS):
        raise LadderError(f"{stage.name}: channels must be among {CHANNELS}")
    if stage.offset_days < 0 or stage.repeat_every_days < 0 or not 0 <= stage.sends_per_day <= 6:
        raise LadderError(f"{stage.name}: offsets and cadence must be non-negative (at most 6 a day)")


@dataclass(frozen=True)
class CaseState:
    """What the daily decision needs to know about one open case."""

    stage: str
    stage_entered_on: date
    due_date: date
    key_owner: bool = False
    open_promise_date: date | None = None
    has_open_issue: bool = False
    paused_until: date | None = None
    awaiting_approval: str | None = None
    approved_stage: str | None = None


@dataclass(frozen=True)
class Decision:
    move_to: str | None = None
    reason: str | None = None  # "due" or "promise_broken"
    request_approval: str | None = None  # newly waiting for a person to approve this stage
    promise_broken: bool = False
    sends: int = 0  # reminders to send today, spread over the day's send windows
    template: str | None = None
    channels: tuple[str, ...] = ()


def _stage(ladder: tuple[Stage, ...], name: str) -> Stage:
    return next(s for s in ladder if s.name == name)


def _next(ladder: tuple[Stage, ...], name: str) -> Stage | None:
    names = [s.name for s in ladder]
    position = names.index(name)
    return ladder[position + 1] if position + 1 < len(ladder) else None


def due_on(case: CaseState, stage: Stage) -> date:
    """The first day the case may enter `stage` (always after the day it entered its current one)."""
    anchor = case.due_date if stage.anchor == "due_date" else case.stage_entered_on
    return max(anchor + timedelta(days=stage.offset_days), case.stage_entered_on + timedelta(days=1))


def needs_approval(case: CaseState, stage: Stage) -> bool:
    gated = stage.needs_approval or (case.key_owner and stage.name == KEY_OWNER_GATE)
    return gated and case.approved_stage != stage.name


def decide(case: CaseState, ladder: tuple[Stage, ...], today: date, campaign_sends_per_day: int = 0) -> Decision:
    """What happens to this case today."""
    if case.open_promise_date is not None:
        if today <= case.open_promise_date:
            # Paused until the promised day; on the day itself, one friendly reminder.
            if today == case.open_promise_date:
                current = _stage(ladder, case.stage)
                return Decision(sends=1, template="promise_due", channels=_messaging(current.channels))
            return Decision()
        return _escalate(case, ladder, today, reason="promise_broken", promise_broken=True)
    if case.has_open_issue or (case.paused_until is not None and today <= case.paused_until):
        return Decision()
    following = _next(ladder, case.stage)
    if following is not None and today >= due_on(case, following):
        return _escalate(case, ladder, today, reason="due")
    return _repeat(case, _stage(ladder, case.stage), today, campaign_sends_per_day)


def _escalate(case: CaseState, ladder, today: date, reason: str, promise_broken: bool = False) -> Decision:
    following = _next(ladder, case.stage)
    if following is None:
        return Decision(promise_broken=promise_broken)
    if needs_approval(case, following):
        newly = following.name if case.awaiting_approval != following.name else None
        return Decision(request_approval=newly, promise_broken=promise_broken)
    return Decision(
        move_to=following.name, reason=reason, promise_broken=promise_broken,
        sends=following.sends_per_day if following.channels else 0,
        template=following.template, channels=following.channels,
    )


def _repeat(case: CaseState, stage: Stage, today: date, campaign_sends_per_day: int) -> Decision:
    if not stage.channels:
        return Decision()
    days_in_stage = (today - case.stage_entered_on).days
    if campaign_sends_per_day:
        # A campaign (e.g. the year-end push) raises the cadence to daily, several a day.
        return Decision(sends=max(campaign_sends_per_day, stage.sends_per_day), template=stage.template,
                        channels=_messaging(stage.channels))
    if stage.repeat_every_days and days_in_stage > 0 and days_in_stage % stage.repeat_every_days == 0:
        # Letters are served once, on entry; repeats go by SMS and email only.
        return Decision(sends=stage.sends_per_day, template=stage.template, channels=_messaging(stage.channels))
    return Decision()


def _messaging(channels: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(c for c in channels if c != "letter")


def first_stage(ladder: tuple[Stage, ...] = DEFAULT_LADDER) -> Stage:
    return ladder[0]

"""The escalation ladder's daily decision for one case (pure rules)."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from services.cases.ladder import (
    DEFAULT_LADDER,
    CaseState,
    LadderError,
    decide,
    due_on,
    ladder_for,
)

DUE = date(2026, 9, 30)
LADDER = DEFAULT_LADDER


def state(stage: str = "reminder", entered: date = date(2026, 10, 1), **changes) -> CaseState:
    return CaseState(stage=stage, stage_entered_on=entered, due_date=DUE, **changes)


def test_a_case_moves_to_the_notice_on_the_day_it_is_due():
    day = DUE + timedelta(days=30)
    decision = decide(state(), LADDER, day)
    assert decision.move_to == "notice" and decision.reason == "due"
    assert decision.channels == ("letter", "email", "sms") and decision.sends == 1


def test_a_case_does_not_move_the_day_before_it_is_due():
    assert decide(state(), LADDER, DUE + timedelta(days=29)).move_to is None


def test_a_stage_anchored_on_the_previous_one_counts_from_its_entry():
    entered = date(2026, 11, 1)
    case = state("notice", entered)
    assert decide(case, LADDER, entered + timedelta(days=29)).move_to is None
    assert decide(case, LADDER, entered + timedelta(days=30)).move_to == "lawyer_letter"


def test_a_long_overdue_case_climbs_one_stage_at_a_time():
    # Imported a year late: due for every stage, but it must receive each notice in turn.
    entered = date(2027, 10, 1)
    decision = decide(state("reminder", entered), LADDER, entered + timedelta(days=1))
    assert decision.move_to == "notice"


def test_a_case_never_enters_a_stage_on_the_day_it_entered_the_previous_one():
    entered = DUE + timedelta(days=100)
    assert due_on(state("reminder", entered), LADDER[1]) == entered + timedelta(days=1)
    assert decide(state("reminder", entered), LADDER, entered).move_to is None


def test_a_key_owner_waits_for_a_manager_before_the_lawyers_letter():
    entered = date(2026, 11, 1)
    case = state("notice", entered, key_owner=True)
    decision = decide(case, LADDER, entered + timedelta(days=30))
    assert decision.move_to is None and decision.request_approval == "lawyer_letter"


def test_an_approval_request_is_made_once():
    entered = date(2026, 11, 1)
    case = state("notice", entered, key_owner=True, awaiting_approval="lawyer_letter")
    decision = decide(case, LADDER, entered + timedelta(days=31))
    assert decision.move_to is None and decision.request_approval is None


def test_an_approved_key_owner_receives_the_lawyers_letter():
    entered = date(2026, 11, 1)
    case = state("notice", entered, key_owner=True, awaiting_approval="lawyer_letter",
                 approved_stage="lawyer_letter")
    assert decide(case, LADDER, entered + timedelta(days=31)).move_to == "lawyer_letter"


def test_legal_review_always_waits_for_approval():
    entered = date(2026, 11, 1)
    decision = decide(state("follow_up_letter", entered), LADDER, entered + timedelta(days=30))
    assert decision.request_approval == "legal_review" and decision.move_to is None


def test_an_open_promise_pauses_the_case_before_its_date():
    case = state(open_promise_date=date(2026, 11, 20))
    decision = decide(case, LADDER, date(2026, 11, 10))
    assert decision.move_to is None and decision.sends == 0


def test_a_reminder_goes_out_on_the_promised_day():
    case = state(open_promise_date=date(2026, 11, 20))
    decision = decide(case, LADDER, date(2026, 11, 20))
    assert decision.sends == 1 and decision.template == "promise_due" and decision.move_to is None
    assert "letter" not in decision.channels


def test_a_promise_broken_the_day_after_escalates_at_once():
    # Only two days into the reminder stage: not due for the notice, but the promise was broken.
    case = state("reminder", date(2026, 11, 19), open_promise_date=date(2026, 11, 20))
    decision = decide(case, LADDER, date(2026, 11, 21))
    assert decision.promise_broken and decision.move_to == "notice" and decision.reason == "promise_broken"


def test_a_broken_promise_of_a_key_owner_still_waits_for_approval_before_the_lawyers_letter():
    case = state("notice", date(2026, 11, 1), key_owner=True, open_promise_date=date(2026, 11, 5))
    decision = decide(case, LADDER, date(2026, 11, 6))
    assert decision.promise_broken and decision.move_to is None
    assert decision.request_approval == "lawyer_letter"


@pytest.mark.parametrize("pause", [
    {"has_open_issue": True},
    {"paused_until": date(2026, 12, 31)},
], ids=["open-issue", "grace-after-resolution"])
def test_an_open_issue_or_its_grace_period_pauses_everything(pause):
    decision = decide(state(**pause), LADDER, DUE + timedelta(days=40))
    assert decision.move_to is None and decision.sends == 0


def test_the_case_resumes_the_day_after_its_grace_period():
    case = state(paused_until=DUE + timedelta(days=39))
    assert decide(case, LADDER, DUE + timedelta(days=40)).move_to == "notice"


@pytest.mark.parametrize(("days_in_stage", "sends"), [(1, 0), (2, 0), (3, 1), (4, 0), (6, 1)])
def test_the_reminder_stage_repeats_every_three_days_by_text_and_email(days_in_stage, sends):
    entered = date(2026, 10, 1)
    decision = decide(state("reminder", entered), LADDER, entered + timedelta(days=days_in_stage))
    assert decision.sends == sends
    if sends:
        assert decision.channels == ("sms", "email")


def test_a_campaign_raises_the_cadence_to_several_a_day():
    entered = date(2026, 10, 1)
    decision = decide(state("reminder", entered), LADDER, entered + timedelta(days=1), campaign_sends_per_day=2)
    assert decision.sends == 2


def test_letters_are_not_repeated_while_in_a_stage():
    entered = date(2026, 11, 1)
    decision = decide(state("notice", entered), LADDER, entered + timedelta(days=7))
    assert decision.sends == 1 and "letter" not in decision.channels


def test_the_last_stage_sends_nothing_and_goes_nowhere():
    decision = decide(state("legal_review", date(2026, 11, 1)), LADDER, date(2027, 6, 1))
    assert decision.move_to is None and decision.sends == 0


def test_a_community_can_override_any_stage_setting():
    ladder = ladder_for({"notice": {"offset_days": 15, "channels": ["letter"]}})
    notice = ladder[1]
    assert notice.offset_days == 15 and notice.channels == ("letter",)
    assert ladder[0] == DEFAULT_LADDER[0]
    assert decide(state(), ladder, DUE + timedelta(days=15)).move_to == "notice"


@pytest.mark.parametrize("override", [
    {"court": {}},
    {"notice": {"colour": "red"}},
    {"notice": {"anchor": "moon"}},
    {"notice": {"channels": ["fax"]}},
    {"notice": {"offset_days": -1}},
    {"reminder": {"sends_per_day": 9}},
], ids=["unknown-stage", "unknown-setting", "bad-anchor", "bad-channel", "negative-offset", "too-many-sends"])
def test_a_ladder_override_that_makes_no_sense_is_refused(override):
    with pytest.raises(LadderError):
        ladder_for(override)


def test_the_default_ladder_is_the_seeds_three_rounds_of_letters():
    names = [s.name for s in LADDER]
    assert names == ["reminder", "notice", "lawyer_letter", "follow_up_letter", "legal_review"]
    assert [s.template for s in LADDER[1:4]] == ["notice", "lawyer_letter", "follow_up_letter"]

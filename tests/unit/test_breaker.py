"""The circuit breaker per provider: opens on a run of failures, defers sends while open, one trial after."""
from __future__ import annotations

from datetime import date

import pytest

from services.notifier.breaker import (
    BreakerRules,
    CircuitBreaker,
    CircuitOpen,
    breaker_states,
    load_breaker_rules,
)
from services.notifier.providers import OutcomeUnknown, ProviderRefused, ProviderUnavailable, TwilioSms
from shared.config import ConfigError
from tests.fakes.replies import Reply
from tests.unit.test_governor import at, worlds


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class ScriptedProvider:
    name = "twilio"

    def __init__(self, *outcomes):
        self.outcomes = list(outcomes)
        self.calls = 0

    def send(self, message) -> str:
        self.calls += 1
        outcome = self.outcomes.pop(0) if self.outcomes else "SM-ok"
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


def breaker(*outcomes, failures=3, cooldown=30.0, window=60.0):
    clock = Clock()
    provider = ScriptedProvider(*outcomes)
    rules = BreakerRules(failures=failures, cooldown_seconds=cooldown, window_seconds=window)
    return CircuitBreaker(provider, rules, clock=clock), provider, clock


def attempt(circuit: CircuitBreaker):
    try:
        return circuit.send("message")
    except Exception as exc:  # noqa: BLE001 - the test looks at which one
        return type(exc)


def test_n_consecutive_failures_open_the_circuit_and_later_calls_are_not_attempted():
    circuit, provider, _ = breaker(ProviderUnavailable("429"), OutcomeUnknown("500"), OutcomeUnknown("timeout"))

    assert [attempt(circuit) for _ in range(3)] == [ProviderUnavailable, OutcomeUnknown, OutcomeUnknown]
    assert attempt(circuit) is CircuitOpen
    assert provider.calls == 3
    assert circuit.state().state == "open" and circuit.retry_in() == pytest.approx(30.0)


def test_after_the_cool_down_one_trial_call_goes_and_its_success_closes_the_circuit():
    circuit, provider, clock = breaker(*[OutcomeUnknown("500")] * 3)
    for _ in range(3):
        attempt(circuit)
    clock.now += 30

    assert circuit.state().state == "half_open" and circuit.retry_in() is None
    assert attempt(circuit) == "SM-ok"
    assert circuit.state().state == "closed" and provider.calls == 4


def test_a_failed_trial_opens_the_circuit_again_and_only_one_trial_runs_at_a_time():
    circuit, provider, clock = breaker(*[OutcomeUnknown("500")] * 4)
    for _ in range(3):
        attempt(circuit)
    clock.now += 30
    circuit._enter()  # a trial under way (as if another thread were in the provider call)
    assert attempt(circuit) is CircuitOpen
    circuit._failed()  # the trial failed

    assert circuit.state().state == "open" and circuit.state().opened_total == 2
    assert attempt(circuit) is CircuitOpen and provider.calls == 3


def test_failures_further_apart_than_the_window_do_not_add_up():
    circuit, _, clock = breaker(*[OutcomeUnknown("500")] * 3, window=60)
    attempt(circuit)
    attempt(circuit)
    clock.now += 61
    attempt(circuit)

    assert circuit.state().state == "closed" and circuit.state().consecutive_failures == 1


@pytest.mark.parametrize("answer", ["SM-ok", ProviderRefused("invalid number", "21211")])
def test_an_answer_from_the_provider_even_a_refusal_resets_the_run_of_failures(answer):
    circuit, _, _ = breaker(OutcomeUnknown("500"), OutcomeUnknown("500"), answer, OutcomeUnknown("500"))
    for _ in range(4):
        attempt(circuit)

    assert circuit.state().state == "closed" and circuit.state().consecutive_failures == 1


def test_the_state_of_every_guarded_provider_is_there_for_ops():
    circuit, _, _ = breaker(*[OutcomeUnknown("500")] * 3)
    for _ in range(3):
        attempt(circuit)

    states = breaker_states([circuit, object()])
    assert list(states) == ["twilio"]
    assert states["twilio"]["state"] == "open" and states["twilio"]["open_until"] is not None


@pytest.mark.parametrize("environ, problem", [
    ({"BREAKER_FAILURES": "0"}, "BREAKER_FAILURES must be at least 1"),
    ({"BREAKER_COOLDOWN_SECONDS": "soon"}, "BREAKER_COOLDOWN_SECONDS must be a number"),
])
def test_breaker_settings_that_make_no_sense_are_refused(environ, problem):
    with pytest.raises(ConfigError, match=problem):
        load_breaker_rules(environ)


def test_breaker_settings_default_to_five_failures_and_thirty_seconds():
    assert load_breaker_rules({}) == BreakerRules(failures=5, cooldown_seconds=30.0, window_seconds=60.0)


def test_while_twilio_is_down_the_dispatcher_defers_sends_with_the_reason_and_calls_nobody(tmp_path):
    day = date(2025, 3, 12)
    with worlds(tmp_path) as build:
        world = build(at(day, "09:30"))
        clock = Clock()
        sms = CircuitBreaker(TwilioSms(_settings(world)), BreakerRules(failures=2, cooldown_seconds=60), clock=clock)
        world = _with_sms(world, sms)
        world.twilio.script(Reply.error(500), Reply.error(500))
        owners = [world.request(owner=f"owner-{n}", channels=["sms"]) for n in range(4)]

        world.tick()

        rows = [world.row(n, "sms") for n in owners]
        unknown = [r["notification_id"] for r in rows if r["status"] == "unknown"]
        deferred = [r for r in rows if r["status"] == "deferred"]
        assert (len(unknown), len(deferred)) == (2, 2)
        assert {r["reason"] for r in deferred} == {"twilio circuit open until 2025-03-12 09:31:00"}
        assert len(world.twilio.requests) == 2

        clock.now += 60  # cool-down over: the trial succeeds and the rest follow
        world.now = at(day, "09:31")
        world.tick()

        assert {n: world.row(n, "sms")["status"] for n in owners} == {
            n: "unknown" if n in unknown else "sent" for n in owners}
        assert len(world.twilio.requests) == 4
        assert world.notifier.circuits()["twilio"]["state"] == "closed"


def _settings(world):
    from shared.config import Settings

    return Settings.from_env({
        "SMS_PROVIDER": "twilio", "TWILIO_API_BASE_URL": world.twilio.url,
        "TWILIO_ACCOUNT_SID": world.twilio.account_sid, "TWILIO_AUTH_TOKEN": world.twilio.auth_token,
        "PROVIDER_TIMEOUT_SECONDS": "2", "GATEWAY_PUBLIC_URL": "http://gw.test",
    })


def _with_sms(world, sms):
    """The same World, its notifier rebuilt with `sms` as the (already guarded) SMS provider."""
    from services.notifier.bootstrap import bootstrap
    from services.notifier.config import SendingRules

    world.notifier = bootstrap(_settings(world), SendingRules(rate_per_second=10_000, poll_seconds=0.1),
                               engine=world.engine, sms=sms, email=world.notifier.sender.providers["email"],
                               clock=lambda: world.now)
    return world

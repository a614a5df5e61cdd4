"""Baseline T, N1 and N2: SMS from one notifier process against a bare twilio client loop, and email.

Both SMS rows call the local Twilio stand-in answering after 50 ms with the same concurrency,
so the ratio is what the ledger, the gate (cancellation, suppression, governor) and the pacer
cost per send. The governor runs with caps far above the load: it counts, it never blocks.
N2 sends 100,000 reminder emails (BENCH_NOTIFIER_EMAILS) through the SendGrid stand-in, also
answering after 50 ms, and reports the requests made (batches of up to 1,000) and the seconds.
The stand-ins run in their own processes, as the providers would: their CPU is not ours.
`python -m tests.bench.notifier` runs only T and N1, BENCH_ROUNDS times each, and prints the
process CPU each spends per send.
"""
from __future__ import annotations

import json
import logging
import multiprocessing
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

from sqlalchemy import func, select
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client as TwilioClient

from services.notifier.bootstrap import Notifier, bootstrap
from services.notifier.config import SendingRules
from services.notifier.dispatcher import load_concurrency
from services.notifier.governor import Caps
from services.notifier.tables import pending_sends, send_ledger
from shared.config import Settings
from shared.db import make_engine
from shared.envelope import new_event
from shared.events import payload_schema
from shared.migrations import upgrade
from tests import support
from tests.bench.common import BenchError, Deadline, Measurement, setting
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio

ROOT = Path(__file__).resolve().parents[2]
LATENCY = 0.05  # the provider's answer time the issue asks for
FAR = 10**9
# Every moment an open window, no pacing below the provider, caps that count but never bite.
RULES = SendingRules(rate_per_second=1_000_000, poll_seconds=0.1, send_immediately=True,
                     caps=Caps(per_day={"sms": FAR, "email": FAR}, per_week={"sms": FAR, "email": FAR},
                               messages_per_day=FAR, community_per_day=FAR))
BODY = "【物业服务中心】张伟您好，您的物业服务费尚欠3846.50元，请及时缴纳，如有疑问请直接回复。回复TD退订"


def run(results: list[Measurement]) -> None:
    """Its own throwaway notifier database; SMS baseline, SMS through the notifier, then email."""
    sends = setting("BENCH_NOTIFIER_SENDS", 2000)
    emails = setting("BENCH_NOTIFIER_EMAILS", 100_000)
    concurrency = load_concurrency()
    # Both twilio rows overflow requests' pool of 10 connections alike; a warning per call says nothing.
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    with support.postgres_database() as url, TemporaryDirectory() as data_dir:
        upgrade(ROOT / "services" / "notifier" / "migrations", url)
        engine = make_engine(url, pool_size=concurrency + 2)
        try:
            with ProviderElsewhere("twilio") as twilio, ProviderElsewhere("sendgrid") as sendgrid:
                settings = _settings(twilio, sendgrid, data_dir)
                notifier = bootstrap(settings, RULES, engine=engine, concurrency=concurrency)
                results.append(bare_twilio(twilio, settings, sends, concurrency))
                results.append(notifier_sms(notifier, twilio, sends, concurrency))
                results.append(notifier_email(notifier, sendgrid, emails, concurrency))
        finally:
            engine.dispose()


def run_sms(results: list[Measurement], rounds: int) -> None:
    """Only rows T and N1, `rounds` times each, alternating (`python -m tests.bench.notifier`).

    Prints the process CPU seconds per send of each row as well: what the notifier adds is CPU.
    """
    sends = setting("BENCH_NOTIFIER_SENDS", 2000)
    concurrency = load_concurrency()
    logging.getLogger("urllib3.connectionpool").setLevel(logging.ERROR)
    with support.postgres_database() as url, TemporaryDirectory() as data_dir:
        upgrade(ROOT / "services" / "notifier" / "migrations", url)
        engine = make_engine(url, pool_size=concurrency + 2)
        try:
            with ProviderElsewhere("twilio") as twilio, ProviderElsewhere("sendgrid") as sendgrid:
                settings = _settings(twilio, sendgrid, data_dir)
                notifier = bootstrap(settings, RULES, engine=engine, concurrency=concurrency)
                for _ in range(rounds):
                    for row in (lambda: bare_twilio(twilio, settings, sends, concurrency),
                                lambda: notifier_sms(notifier, twilio, sends, concurrency)):
                        cpu = time.process_time()
                        results.append(measured := row())
                        cpu = _timed_cpu.pop("sms", None) or time.process_time() - cpu  # N1: not its staging
                        per_send = cpu / sends * 1000
                        print(f"bench: {measured.key}: {measured.rate:,.0f}/s, {per_send:.2f} ms CPU per send",
                              flush=True)
        finally:
            engine.dispose()


class ProviderElsewhere:
    """A provider stand-in answering after LATENCY in a child process; `requests()` counts what it got."""

    def __init__(self, kind: str):
        self.kind = kind

    def __enter__(self) -> ProviderElsewhere:
        context = multiprocessing.get_context("spawn")
        self._pipe, child = context.Pipe()
        self._process = context.Process(target=_serve, args=(self.kind, child), daemon=True)
        self._process.start()
        if not self._pipe.poll(30):
            raise BenchError(f"the {self.kind} stand-in did not start")
        self.__dict__.update(self._pipe.recv())
        return self

    def requests(self) -> int:
        self._pipe.send("count")
        return self._pipe.recv()

    def __exit__(self, *exc_info) -> None:
        self._pipe.send("stop")
        self._process.join(10)


def _serve(kind: str, pipe) -> None:
    fake = FakeTwilio(latency=LATENCY) if kind == "twilio" else FakeSendGrid(latency=LATENCY)
    if kind == "twilio":
        fake.callbacks_enabled = False  # no gateway listens in the bench
    with fake:
        pipe.send({"url": fake.url, **{name: getattr(fake, name) for name in
                                       ("account_sid", "auth_token", "api_key") if hasattr(fake, name)}})
        while pipe.recv() == "count":
            pipe.send(len(fake.requests))


def bare_twilio(twilio: ProviderElsewhere, settings: Settings, total: int, concurrency: int) -> Measurement:
    """Baseline T: the official client, built as TwilioSms builds it, from a pool of the same size."""
    client = TwilioClient(settings.twilio_account_sid, settings.twilio_auth_token,
                          http_client=TwilioHttpClient(timeout=settings.provider_timeout))
    client.api.base_url = twilio.url

    def create(number: int) -> str:
        return client.messages.create(to=f"+86138{number:08d}", from_=settings.twilio_from, body=BODY).sid

    before = twilio.requests()
    start = time.perf_counter()
    with ThreadPoolExecutor(concurrency) as pool:
        sids = list(pool.map(create, range(total)))
    seconds = time.perf_counter() - start
    if len(set(sids)) != total or twilio.requests() - before != total:
        raise BenchError(f"bare twilio loop: {len(set(sids))} messages for {total} calls")
    return Measurement("T", f"twilio client, {concurrency} threads, 50 ms provider", total, seconds)


def notifier_sms(notifier: Notifier, twilio: ProviderElsewhere, total: int, concurrency: int) -> Measurement:
    """N1: the same number of SMS through the dispatcher: gate, ledger, governor, pacer, breaker."""
    before = twilio.requests()
    seconds = _dispatch(notifier, "sms", total)
    if (made := twilio.requests() - before) != total:
        raise BenchError(f"notifier sms: {made} provider calls for {total} sends")
    return Measurement("N1", f"notifier SMS, {concurrency} workers, ledger+governor", total, seconds, baseline="T")


def notifier_email(notifier: Notifier, sendgrid: ProviderElsewhere, total: int, concurrency: int) -> Measurement:
    """N2: reminders by email through SendGrid, as many to a request as their content allows."""
    run_id = uuid.uuid4().hex[:8]
    _stage_in_bulk(notifier, [_request(f"{run_id}-{n}", "email") for n in range(total)])
    before = sendgrid.requests()
    seconds = _dispatch_staged(notifier, "email", run_id, total)
    made = sendgrid.requests() - before
    print(f"bench: notifier email: {total} reminders, {made} SendGrid requests, {seconds:.1f}s", flush=True)
    return Measurement("N2", f"notifier email, {made} SendGrid requests", total, seconds)


def _stage_in_bulk(notifier: Notifier, events: list) -> None:
    """Keep requests as the event handler does (schedule_request), many rows to a statement: not timed.

    Handling 100,000 events one transaction each would take longer than sending them.
    """
    schema = payload_schema("reminder.requested", 1)
    now = datetime.now(UTC)
    rows = [{
        "notification_id": str(e.payload["notification_id"]), "channel": channel, "case_id": e.payload["case_id"],
        "owner_id": e.payload["recipient"]["owner_id"], "community": e.payload["community"], "slot": 0,
        "template": e.payload["template"], "address": e.payload["recipient"]["email"],
        "payload": json.dumps(schema.dump(e.payload), ensure_ascii=False), "correlation_id": e.correlation_id,
        "requested_at": e.occurred_at, "due_at": now, "expires_at": now + timedelta(days=3), "status": "pending",
        "reason": None, "attempts": 0, "created_at": now, "updated_at": now,
    } for e in events for channel in e.payload["channels"]]
    with notifier.engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(pending_sends.insert(), rows[start:start + 5000])


def _dispatch_staged(notifier: Notifier, channel: str, run_id: str, total: int) -> float:
    deadline = Deadline(f"notifier {channel}", max(600, setting("BENCH_SCENARIO_SECONDS", 60)))
    start = time.perf_counter()
    sent = 0
    while sent < total:
        notifier.dispatcher.tick()
        sent = _sent(notifier, channel, run_id)
        deadline.check(sent, total)
    return time.perf_counter() - start


def _dispatch(notifier: Notifier, channel: str, total: int) -> float:
    """Stage `total` one-channel requests (not timed), then time the dispatcher until all are sent."""
    run_id = uuid.uuid4().hex[:8]
    for number in range(total):
        notifier.handle(_request(f"{run_id}-{number}", channel))
    deadline = Deadline(f"notifier {channel}")
    start, cpu = time.perf_counter(), time.process_time()
    sent = 0
    while sent < total:
        notifier.dispatcher.tick()
        sent = _sent(notifier, channel, run_id)
        deadline.check(sent, total)
    _timed_cpu[channel] = time.process_time() - cpu
    return time.perf_counter() - start


_timed_cpu: dict[str, float] = {}  # CPU seconds of the last timed dispatch, by channel (run_sms prints it)


def _sent(notifier: Notifier, channel: str, run_id: str) -> int:
    with notifier.engine.connect() as connection:
        return connection.scalar(select(func.count()).select_from(send_ledger).where(
            send_ledger.c.channel == channel, send_ledger.c.status == "sent",
            send_ledger.c.case_id.like(f"case-{run_id}-%")))


def _request(number: str, channel: str):
    return new_event("reminder.requested", {
        "notification_id": str(uuid.uuid4()), "case_id": f"case-{number}", "community": "翠湖花园",
        "stage": "reminder", "channels": [channel], "template": "reminder",
        "recipient": {"owner_id": f"owner-{number}", "name": "张伟", "phone": f"+86139{hash(number) % 10**8:08d}",
                      "email": f"owner-{number}@example.com", "locale": "zh-CN"},
        "context": {"community": "翠湖花园", "unit": "3-2-1201", "amount_owed": "3846.50"},
    })


def _settings(twilio: ProviderElsewhere, sendgrid: ProviderElsewhere, data_dir: str) -> Settings:
    return Settings.from_env({
        "DATA_DIR": data_dir, "SMS_PROVIDER": "twilio", "EMAIL_PROVIDER": "sendgrid",
        "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
        "TWILIO_AUTH_TOKEN": twilio.auth_token, "SENDGRID_API_HOST": sendgrid.url,
        "SENDGRID_API_KEY": sendgrid.api_key, "PROVIDER_TIMEOUT_SECONDS": "5",
        "GATEWAY_PUBLIC_URL": "http://gw.test",
    })


if __name__ == "__main__":
    from tests.bench.report import table

    measured: list[Measurement] = []
    run_sms(measured, setting("BENCH_ROUNDS", 3))
    print(table(measured))
    sys.exit(0)

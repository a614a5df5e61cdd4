"""The notifier under faults, on the real RabbitMQ: never twice, never lost.

The worker runs as a process (`python -m services.notifier worker`, send windows off) against
FakeTwilio; its database is a SQLite file the test reads. Twilio's status callbacks go to a
small stand-in for the gateway that publishes `delivery.reported` on the bus, as the gateway does
(its webhook is tested on its own), so reconciliation runs through the broker too.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, date, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from services.notifier.tables import outbox, pending_sends, send_ledger
from shared.db import make_engine
from shared.envelope import new_event
from shared.messaging import EventPublisher, connect
from shared.topology import Topology
from tests.fakes.replies import Reply
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio
from tests.integration.bus import running_consumer, wait_for
from tests.unit.sqlite_services import migrated_database
from tests.unit.test_governor import at, worlds

pytestmark = pytest.mark.broker
ROOT = Path(__file__).resolve().parents[2]


class HoldingTwilio(FakeTwilio):
    """FakeTwilio that can take a message and then hold its answer back (the moment to crash in)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.hold_after_accept = 0.0
        self.accepted = threading.Event()

    def _accept(self, params: dict) -> dict:
        message = super()._accept(params)
        self.accepted.set()
        if self.hold_after_accept:
            self._stopping.wait(self.hold_after_accept)
        return message


class GatewayStandIn:
    """Receives Twilio status callbacks and publishes them as `delivery.reported`, like the gateway."""

    def __init__(self, broker_url: str, topology: Topology):
        self.publisher = EventPublisher(connect(broker_url), topology)
        self.lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
                notification = parse_qs(urlsplit(self.path).query).get("n", [None])[0]
                with stand_in.lock:
                    stand_in.publisher.publish(new_event("delivery.reported", {
                        "provider": "twilio", "channel": "sms", "provider_message_id": form["MessageSid"],
                        "notification_id": notification, "address": None, "status": form["MessageStatus"],
                        "error_code": form.get("ErrorCode"), "reported_at": datetime.now(UTC),
                    }))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.publisher.connection.release()


class Harness:
    def __init__(self, tmp_path: Path, broker_url: str, namespace: str, twilio: HoldingTwilio,
                 sendgrid: FakeSendGrid, gateway_url: str):
        self.tmp_path, self.broker_url, self.twilio = tmp_path, broker_url, twilio
        self.topology = Topology(namespace)
        database = migrated_database(tmp_path, "notifier")
        self.engine = make_engine(database)
        self.env = {
            **os.environ, "PYTHONPATH": str(ROOT), "APP_ENV": "test", "DATA_DIR": str(tmp_path),
            "SECRET_KEY": "faults", "BROKER_URL": broker_url, "BROKER_NAMESPACE": namespace,
            "NOTIFIER_DATABASE_URL": database, "GATEWAY_PUBLIC_URL": gateway_url,
            "SMS_PROVIDER": "twilio", "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_FROM": "+15005550006",
            "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_HOST": sendgrid.url, "SENDGRID_API_KEY": sendgrid.api_key,
            "SENDGRID_FROM_EMAIL": "billing@example.com", "PROVIDER_TIMEOUT_SECONDS": "1",
            "NOTIFIER_SEND_IMMEDIATELY": "true", "DISPATCH_POLL_SECONDS": "0.2", "OUTBOX_POLL_SECONDS": "0.1",
            "LOG_LEVEL": "INFO",
        }
        self.process: subprocess.Popen | None = None
        self.log = tmp_path / "notifier-worker.log"
        with connect(broker_url) as connection:
            self.topology.declare(connection)  # queues exist before anything is published
        self.publisher = EventPublisher(connect(broker_url), self.topology)

    def start(self, **env: str) -> None:
        with open(self.log, "ab") as out:
            self.process = subprocess.Popen([sys.executable, "-m", "services.notifier", "worker"],
                                            env={**self.env, **env}, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(5)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def request(self, owner: str) -> str:
        notification = str(uuid.uuid4())
        phone = f"+86138{uuid.uuid5(uuid.NAMESPACE_DNS, owner).int % 10**8:08d}"
        self.publisher.publish(new_event("reminder.requested", {
            "notification_id": notification, "case_id": f"case-{owner}", "community": "lakeside-garden",
            "stage": "reminder", "slot": 0, "send_on": date.today(), "channels": ["sms"], "template": "reminder",
            "recipient": {"owner_id": owner, "name": "王芳", "phone": phone, "email": f"{owner}@example.com",
                          "locale": "zh-CN"},
            "context": {"amount_owed": "2860.00", "community": "lakeside-garden"},
        }))
        return notification

    def row(self, notification: str) -> dict | None:
        with self.engine.connect() as connection:
            found = connection.execute(select(pending_sends).where(
                pending_sends.c.notification_id == notification)).mappings().first()
            return dict(found) if found else None

    def ledger(self, notification: str) -> dict | None:
        with self.engine.connect() as connection:
            found = connection.execute(select(send_ledger).where(
                send_ledger.c.notification_id == notification)).mappings().first()
            return dict(found) if found else None

    def unpublished(self) -> int:
        with self.engine.connect() as connection:
            return len(connection.execute(select(outbox.c.seq).where(outbox.c.published_at.is_(None))).all())

    def status(self, notification: str) -> str | None:
        row = self.row(notification)
        return row["status"] if row else None

    def wait_status(self, notification: str, status: str, timeout: float = 10.0) -> dict:
        try:
            wait_for(lambda: self.status(notification) == status, timeout)
        except AssertionError:
            print(self.log.read_text(errors="replace")[-3000:])
            raise AssertionError(f"{notification} is {self.row(notification)}, not {status}") from None
        return self.row(notification)


@contextmanager
def harness(tmp_path, rabbit_url, namespace, **twilio_options):
    with HoldingTwilio(**twilio_options) as twilio, FakeSendGrid() as sendgrid:
        gateway = GatewayStandIn(rabbit_url, Topology(namespace))
        h = Harness(tmp_path, rabbit_url, namespace, twilio, sendgrid, gateway.url)
        try:
            yield h
        finally:
            h.stop()
            h.publisher.connection.release()
            gateway.close()
            h.engine.dispose()


def test_a_429_then_success_sends_one_message_after_the_backoff(tmp_path, rabbit_url, namespace):
    with harness(tmp_path, rabbit_url, namespace) as h:
        h.twilio.script(Reply.error(429))
        h.start()
        notification = h.request("owner-429")
        wait_for(lambda: h.twilio.requests, 10)
        throttled_at = time.monotonic()

        h.wait_status(notification, "sent", timeout=10)

        assert time.monotonic() - throttled_at >= 3.5  # ~5 s with jitter, through the pending row
        assert len(h.twilio.requests) == 2 and len(h.twilio.messages) == 1
        assert h.ledger(notification)["attempts"] == 2


def test_a_500_after_acceptance_is_unknown_and_only_its_callback_settles_it(tmp_path, rabbit_url, namespace):
    with harness(tmp_path, rabbit_url, namespace, callback_delay=1.0) as h:
        h.twilio.script(Reply.accepted_then_error(500))
        h.start()
        notification = h.request("owner-500")

        assert h.wait_status(notification, "unknown")["reason"].startswith("outcome unknown")
        row = h.wait_status(notification, "sent", timeout=10)

        [sid] = h.twilio.messages
        assert h.ledger(notification)["provider_message_id"] == sid
        assert row["reason"] == "outcome was unknown; confirmed by the provider's report"
        time.sleep(0.5)  # a few dispatcher polls: still no second call
        assert len(h.twilio.requests) == 1


def test_a_provider_slower_than_the_timeout_is_unknown_and_never_called_twice(tmp_path, rabbit_url, namespace):
    with harness(tmp_path, rabbit_url, namespace) as h:
        h.twilio.callbacks_enabled = False  # no report comes: it must stay unknown
        h.twilio.script(Reply.slow(2.0))
        h.start()
        notification = h.request("owner-slow")

        h.wait_status(notification, "unknown", timeout=10)
        wait_for(lambda: h.twilio.messages, 5)  # the provider took it after the client gave up
        time.sleep(1.0)

        assert h.status(notification) == "unknown" and len(h.twilio.requests) == 1
        assert h.ledger(notification)["status"] == "unknown"


def test_a_worker_killed_after_the_provider_accepted_makes_exactly_one_call_after_restart(
        tmp_path, rabbit_url, namespace):
    with harness(tmp_path, rabbit_url, namespace, callback_delay=1.5) as h:
        h.twilio.hold_after_accept = 3.0  # Twilio has the message; its answer is not back yet
        h.start(PROVIDER_TIMEOUT_SECONDS="5")
        notification = h.request("owner-kill")
        assert h.twilio.accepted.wait(10)

        h.kill()
        assert (h.status(notification), h.ledger(notification)["status"]) == ("sending", "claimed")
        h.twilio.hold_after_accept = 0.0
        h.start(PROVIDER_TIMEOUT_SECONDS="5")
        h.publisher.publish(new_event("reminder.requested", _payload_of(h, notification)))  # cases asks again

        h.wait_status(notification, "sent", timeout=15)  # settled by the status callback, over the bus
        time.sleep(0.5)
        assert len(h.twilio.requests) == 1
        assert h.ledger(notification)["provider_message_id"] == next(iter(h.twilio.messages))


def test_connections_closed_under_the_worker_lose_nothing_and_send_nothing_twice(tmp_path, rabbit_url, namespace):
    with harness(tmp_path, rabbit_url, namespace) as h:
        h.start()
        first = [h.request(f"owner-a{n}") for n in range(5)]
        for notification in first:
            h.wait_status(notification, "sent")

        vhost = urlsplit(rabbit_url).path.lstrip("/")
        subprocess.run(["rabbitmqctl", "-q", "close_all_connections", "-p", vhost, "fault test"],
                       check=True, capture_output=True, timeout=30)
        h.publisher.connection.release()
        h.publisher = EventPublisher(connect(rabbit_url), h.topology)
        second = [h.request(f"owner-b{n}") for n in range(5)]
        for notification in second:
            h.wait_status(notification, "sent", timeout=20)

        assert h.process.poll() is None
        recipients = [r["To"] for r in h.twilio.requests]
        assert len(recipients) == 10 and len(set(recipients)) == 10
        wait_for(lambda: h.unpublished() == 0, 10)  # the outbox relay reconnected too: message.sent is out


def test_a_payment_arriving_over_the_bus_between_two_windows_stops_everything_after_it(
        tmp_path, rabbit_url, namespace):
    topology = Topology(namespace)
    with worlds(tmp_path) as build, connect(rabbit_url) as connection:
        topology.declare(connection)
        world = build(at(date(2025, 3, 12), "06:00"))
        publisher = EventPublisher(connect(rabbit_url), topology)
        received = []

        def handle(event):
            world.notifier.handle(event)
            received.append(event.type)

        with running_consumer(rabbit_url, topology, "notifier", handle):
            payload = dict(notification_id=None, case_id="case-owner-1", community="lakeside-garden",
                           stage="reminder", send_on=date(2025, 3, 12), channels=["sms", "email"],
                           template="reminder", context={"amount_owed": "2860.00", "community": "lakeside-garden"},
                           recipient={"owner_id": "owner-1", "name": "王芳", "phone": "+8613800000001",
                                      "email": "owner-1@example.com", "locale": "zh-CN"})
            for slot in range(3):
                publisher.publish(new_event("reminder.requested",
                                            {**payload, "notification_id": str(uuid.uuid4()), "slot": slot}))
            wait_for(lambda: len(received) == 3, 10)
            world.run_until(at(date(2025, 3, 12), "12:00"))  # the 09:30 window went out
            assert (len(world.twilio.requests), len(world.sendgrid.requests)) == (1, 1)

            world.now = at(date(2025, 3, 12), "12:30")
            publisher.publish(new_event("payment.recorded", {
                "payment_id": "pay-1", "case_id": "case-owner-1", "owner_id": "owner-1",
                "community": "lakeside-garden", "amount": "2860.00", "paid_on": date(2025, 3, 12),
                "amount_owed_after": "0.00"}))
            wait_for(lambda: len(received) == 4, 10)
            world.run_until(at(date(2025, 3, 12), "23:00"))

        publisher.connection.release()
        assert (len(world.twilio.requests), len(world.sendgrid.requests)) == (1, 1)
        assert {r["status"] for r in world.rows() if r["sent_at"] is None} == {"cancelled"}


def _payload_of(h: Harness, notification: str) -> dict:
    import json

    return json.loads(h.row(notification)["payload"])

"""Gateway benchmarks.

W/G: signed inbound-SMS webhooks per second through the whole gateway path (signature check,
dedupe, reading the reply, receipt + event committed in the gateway's own store, relayed to
RabbitMQ by the gateway worker) under gunicorn with deploy/gateway.gunicorn.conf.py, against a
bare Flask handler (tests/bench/bare_webhook.py) under the very same config, both driven by wrk
in the same round; wrk's p50/p99 latency beside each.

R: from an owner's "下周五交" posted to the gateway to the case holding the open promise (which is
what pauses the case's reminders), p50/p99, while other owners' webhooks keep the gateway busy.
"""
from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from datetime import UTC, datetime
from pathlib import Path
from statistics import quantiles

import requests
from sqlalchemy import select
from twilio.request_validator import RequestValidator

from deploy.local import LocalSystem
from shared.auth import issue_token
from shared.db import make_engine
from tests import support
from tests.bench import wrk
from tests.bench.common import BenchError, Measurement, setting
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.fakes.twilio_server import FakeTwilio, sign_and_post

ROOT = Path(__file__).resolve().parents[2]
SECRET = "bench-secret"
TOKEN = "bench-twilio-token"
ACCOUNT = "AC" + "b" * 32
# What owners text back, in turn: an acknowledgement, a dated promise (the directory is asked for
# the sender's timezone), a complaint, and a question (matched against the FAQ).
REPLIES = ["好的，知道了", "这个月手头紧，我下周五交", "电梯坏了一个月了，修好再交", "物业费包括哪些服务？"]


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(results: list[Measurement], amqp_url: str) -> None:
    wrk.require_wrk()
    seconds = setting("BENCH_WEBHOOK_SECONDS", 10)
    rounds = setting("BENCH_WEBHOOK_ROUNDS", 2)
    with tempfile.TemporaryDirectory(prefix="bench-gw-") as tmp, support.postgres_database() as database:
        workdir = Path(tmp)
        gateway_port, bare_port = free_port(), free_port()
        env = _gateway_env(amqp_url, database, workdir, gateway_port)
        for command in ("migrate", "demo"):  # demo: the starter FAQ (收费答客问) the questions are matched to
            subprocess.run([sys.executable, "-m", "services.gateway", command], env=env, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL)
        # Enough distinct messages that wrk never repeats one (a repeat is a cheap dedupe hit).
        budget = setting("BENCH_WEBHOOK_REQUESTS", 4000 * seconds)
        public = f"http://127.0.0.1:{gateway_port}"
        with _processes(workdir) as spawn:
            spawn("bare-web", {**env, "GUNICORN_BIND": f"127.0.0.1:{bare_port}"},
                  "-m", "gunicorn", "-c", "deploy/gateway.gunicorn.conf.py", "tests.bench.bare_webhook:app")
            spawn("gateway-web", env, "-m", "gunicorn", "-c", "deploy/gateway.gunicorn.conf.py",
                  "services.gateway.wsgi:app")
            spawn("gateway-worker", env, "-m", "services.gateway", "worker")
            _wait_up(f"http://127.0.0.1:{bare_port}/webhooks/twilio/sms", method="POST")
            _wait_up(f"{public}/readyz")
            for number in range(1, rounds + 1):
                warm = workdir / f"warm{number}.txt"
                wrk.write_signed_inbound(warm, 2000, public, TOKEN, ACCOUNT, REPLIES)
                main = workdir / f"round{number}.txt"
                wrk.write_signed_inbound(main, budget, public, TOKEN, ACCOUNT, REPLIES)
                wrk.run_wrk(f"http://127.0.0.1:{bare_port}", warm, 2)
                bare = wrk.run_wrk(f"http://127.0.0.1:{bare_port}", main, seconds)
                results.append(Measurement("W", f"bare Flask webhook, same gunicorn (p50 {bare.p50_ms:.1f} ms, "
                                                f"p99 {bare.p99_ms:.1f} ms)", bare.requests, bare.seconds))
                wrk.run_wrk(public, warm, 2)
                ours = wrk.run_wrk(public, main, seconds)
                _check(ours, budget)
                results.append(Measurement("G", f"gateway signed inbound SMS, full path (p50 {ours.p50_ms:.1f} ms, "
                                                f"p99 {ours.p99_ms:.1f} ms)", ours.requests, ours.seconds,
                                           baseline="W"))
                print(f"bench: gateway webhooks round {number} of {rounds} done", flush=True)


def _check(result: wrk.WrkResult, budget: int) -> None:
    if result.non_2xx:
        raise BenchError(f"gateway answered {result.non_2xx} of {result.requests} webhooks with an error status")
    if result.requests > budget:
        raise BenchError(f"wrk sent {result.requests} webhooks but only {budget} distinct ones were signed; "
                         "raise BENCH_WEBHOOK_REQUESTS")


def _gateway_env(amqp_url: str, database: str, workdir: Path, port: int) -> dict[str, str]:
    return {
        "PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "APP_ENV": "test", "SECRET_KEY": SECRET,
        "DATA_DIR": str(workdir), "BROKER_URL": amqp_url, "BROKER_NAMESPACE": support.unique("bgw") + ".",
        "GATEWAY_DATABASE_URL": database, "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "GUNICORN_BIND": f"127.0.0.1:{port}", "TWILIO_AUTH_TOKEN": TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT,
        "LOG_LEVEL": "WARNING",
    }


@contextlib.contextmanager
def _processes(workdir: Path):
    started: list[subprocess.Popen] = []

    def spawn(name: str, env: dict, *args: str) -> None:
        with open(workdir / f"{name}.log", "ab") as out:
            started.append(subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT, stdout=out,
                                            stderr=subprocess.STDOUT))

    try:
        yield spawn
    finally:
        for process in started:
            process.terminate()
        for process in started:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                process.kill()


def _wait_up(url: str, method: str = "GET", timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            request = urllib.request.Request(url, data=b"" if method == "POST" else None, method=method)
            with urllib.request.urlopen(request, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise BenchError(f"{url} did not come up within {timeout:.0f}s") from None
            time.sleep(0.2)


# --- R: reply → promise latency under load ------------------------------------------------------

def run_reply_latency(results: list[Measurement], amqp_url: str) -> None:
    owners = setting("BENCH_REPLY_OWNERS", 200)
    per_second = setting("BENCH_REPLY_RATE", 20)
    with tempfile.TemporaryDirectory(prefix="bench-reply-") as tmp, FakeTwilio() as twilio, \
            FakeSendGrid() as sendgrid, support.postgres_database() as cases_db, \
            support.postgres_database() as notifier_db, support.postgres_database() as gateway_db:
        ports = {name: free_port() for name in ("cases", "notifier", "gateway")}
        env = {
            "APP_ENV": "test", "SECRET_KEY": SECRET, "DATA_DIR": tmp, "BROKER_URL": amqp_url,
            "BROKER_NAMESPACE": support.unique("brl") + ".", "CASES_DATABASE_URL": cases_db,
            "NOTIFIER_DATABASE_URL": notifier_db, "GATEWAY_DATABASE_URL": gateway_db,
            "SMS_PROVIDER": "twilio", "TWILIO_API_BASE_URL": twilio.url, "TWILIO_ACCOUNT_SID": twilio.account_sid,
            "TWILIO_AUTH_TOKEN": twilio.auth_token, "TWILIO_FROM": "+15005550006",
            "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_HOST": sendgrid.url, "SENDGRID_API_KEY": sendgrid.api_key,
            "SENDGRID_FROM_EMAIL": "billing@example.com", "GATEWAY_PUBLIC_URL": f"http://127.0.0.1:{ports['gateway']}",
            "NOTIFIER_SEND_IMMEDIATELY": "true", "LOG_LEVEL": "WARNING",
        }
        system = LocalSystem(env, ports, log_dir=Path(tmp) / "logs")
        system.migrate()
        with system.start():
            system.wait_ready()
            phones = _open_cases(system, owners)
            _measure_replies(system, twilio.auth_token, twilio.account_sid, phones, per_second, cases_db, results)


def _open_cases(system: LocalSystem, owners: int) -> dict[str, str]:
    admin = {"Authorization": f"Bearer {issue_token(SECRET, 'bench-admin', 'admin')}"}
    cases = system.url("cases")
    created = requests.put(f"{cases}/api/v1/communities/lakeside", json={"name": "Lakeside",
                           "timezone": "Asia/Shanghai"}, headers=admin, timeout=10)
    if created.status_code != 200:
        raise BenchError(f"could not configure the bench community: {created.status_code} {created.text}")
    phones: dict[str, str] = {}
    with requests.Session() as session:
        for n in range(owners):
            phone = f"+86137{n:08d}"
            body = {"community": "lakeside", "amount_owed": "2860.00",
                    "owner": {"name": f"业主{n}", "phone": phone, "email": None, "locale": "zh-CN"}}
            answer = session.post(f"{cases}/api/v1/cases", json=body, headers=admin, timeout=10)
            if answer.status_code != 201:
                raise BenchError(f"could not open a bench case: {answer.status_code} {answer.text}")
            phones[answer.json()["id"]] = phone
    return phones


def _measure_replies(system: LocalSystem, token: str, account: str, phones: dict[str, str], per_second: int,
                     cases_db: str, results: list[Measurement]) -> None:
    from services.cases.tables import promises

    inbound = f"{system.url('gateway')}/webhooks/twilio/sms"
    stop = threading.Event()
    chatter: list[int] = []
    background = threading.Thread(target=_chatter, args=(inbound, token, account, stop, chatter), daemon=True)
    background.start()
    sent_at: dict[str, datetime] = {}
    began = time.monotonic()
    try:
        for n, (case_id, phone) in enumerate(phones.items()):
            time.sleep(max(0.0, began + n / per_second - time.monotonic()))
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": account, "From": phone,
                      "To": "+15005550006", "Body": "下周五交", "NumMedia": "0"}
            sent_at[case_id] = datetime.now(UTC)
            answer = sign_and_post(inbound, params, token)
            if answer.status_code != 200:
                raise BenchError(f"gateway refused a bench reply: {answer.status_code}")
        engine = make_engine(cases_db)
        try:
            deadline = time.monotonic() + 120
            while True:
                with engine.connect() as db:
                    rows = db.execute(select(promises.c.case_id, promises.c.created_at)
                                      .where(promises.c.status == "open")).all()
                if len(rows) >= len(phones) or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
        finally:
            engine.dispose()
    finally:
        stop.set()
        background.join(10)
    if len(rows) < len(phones):
        raise BenchError(f"only {len(rows)} of {len(phones)} replies became promises within 120 s")
    latencies = sorted((created - sent_at[case_id]).total_seconds() * 1000 for case_id, created in rows)
    cuts = quantiles(latencies, n=100)
    took = (max(created for _, created in rows) - min(sent_at.values())).total_seconds()
    results.append(Measurement(
        "R", f"reply 下周五交 → open promise, {per_second}/s beside {sum(chatter) / took:.0f}/s other texts "
             f"(p50 {cuts[49]:.0f} ms, p99 {cuts[98]:.0f} ms)", len(rows), took,
    ))


def _chatter(inbound: str, token: str, account: str, stop: threading.Event, sent: list[int]) -> None:
    """Other owners' texts (strangers to cases), as fast as one client can send them."""
    with requests.Session() as session:
        session.trust_env = False
        validator = RequestValidator(token)
        n = 0
        while not stop.is_set():
            params = {"MessageSid": "SM" + uuid.uuid4().hex, "AccountSid": account, "From": f"+86136{n:08d}",
                      "To": "+15005550006", "Body": "请问怎么交费？", "NumMedia": "0"}
            signature = validator.compute_signature(inbound, params)
            with contextlib.suppress(requests.RequestException):
                session.post(inbound, data=params, headers={"X-Twilio-Signature": signature}, timeout=10)
            n += 1
        sent.append(n)

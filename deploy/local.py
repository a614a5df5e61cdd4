"""Run the whole system on one machine: migrate, load demo data, start every process.

`python -m deploy.local` (what `make run` calls) starts the three services under gunicorn and
each service's worker (consumer + outbox relay), waits until all are ready, prints where they
are, and stops everything cleanly on Ctrl-C. The e2e tests drive the same class.
"""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICES = ("cases", "notifier", "gateway")
DEFAULT_PORTS = {"cases": 8001, "notifier": 8002, "gateway": 8003}


class LocalSystem:
    def __init__(self, env: dict[str, str] | None = None, ports: dict[str, int] | None = None,
                 log_dir: Path | None = None):
        self.env = {**os.environ, **(env or {})}
        self.env.setdefault("GUNICORN_WORKERS", "2")
        self.env["PYTHONPATH"] = str(ROOT)
        self.ports = {**DEFAULT_PORTS, **(ports or {})}
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def run(self, *args: str) -> None:
        subprocess.run([sys.executable, *args], env=self.env, cwd=ROOT, check=True)

    def migrate(self) -> None:
        for service in SERVICES:
            self.run("-m", f"services.{service}", "migrate")
        self.run("-m", "shared.topology")  # the queues exist before six processes start using them

    def start(self) -> LocalSystem:
        for service in SERVICES:
            env = {**self.env, "GUNICORN_BIND": f"127.0.0.1:{self.ports[service]}"}
            self._spawn(f"{service}-web", env, "-m", "gunicorn", "-c",
                        f"deploy/{service}.gunicorn.conf.py", f"services.{service}.wsgi:app")
            self._spawn(f"{service}-worker", self.env, "-m", f"services.{service}", "worker")
        return self

    def _spawn(self, name: str, env: dict, *args: str) -> None:
        if self.log_dir is None:
            self.processes[name] = subprocess.Popen([sys.executable, *args], env=env, cwd=ROOT)
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        # The child keeps its own copy of the descriptor; ours can close at once.
        with open(self.log_dir / f"{name}.log", "ab") as out:
            self.processes[name] = subprocess.Popen(
                [sys.executable, *args], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT
            )

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        pending = set(SERVICES)
        while pending:
            self.check_alive()
            for service in list(pending):
                try:
                    with urllib.request.urlopen(f"{self.url(service)}/readyz", timeout=2) as response:
                        if response.status == 200:
                            pending.discard(service)
                except OSError:
                    pass
            if pending and time.monotonic() > deadline:
                raise TimeoutError(f"not ready after {timeout}s: {sorted(pending)}")
            time.sleep(0.2)

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise RuntimeError(f"processes exited: {dead}")

    def stop(self, timeout: float = 20) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def __enter__(self) -> LocalSystem:
        return self

    def __exit__(self, *_exc) -> None:
        self.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-demo", action="store_true", help="do not load demo data")
    args = parser.parse_args()
    # The demo shows messages at once; real send windows apply with NOTIFIER_SEND_IMMEDIATELY=false.
    system = LocalSystem({"NOTIFIER_SEND_IMMEDIATELY": os.environ.get("NOTIFIER_SEND_IMMEDIATELY", "true")})
    system.migrate()
    if not args.no_demo:
        system.run("-m", "services.cases", "demo")
        system.run("-m", "services.gateway", "demo")  # the starter FAQ (收费答客问)
    stopping = False

    def on_signal(_signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    with system.start():
        system.wait_ready()
        token = subprocess.run(
            [sys.executable, "-m", "services.cases", "token", "--sub", "demo-admin", "--role", "admin"],
            env=system.env, cwd=ROOT, check=True, capture_output=True, text=True,
        ).stdout.strip()
        print(_banner(system, token), flush=True)
        while not stopping:
            system.check_alive()
            time.sleep(0.5)
        print("\nstopping…", flush=True)


def _demo_sign_in(system: LocalSystem) -> str:
    data_dir = Path(system.env.get("DATA_DIR") or ROOT / "var")
    password_file = data_dir / "demo-manager.password"
    if not password_file.exists():
        return "(no demo manager password kept: sign in with your own staff account)"
    return f"sign in as demo-manager / {password_file.read_text(encoding='utf-8').strip()}"


def _banner(system: LocalSystem, token: str) -> str:
    return f"""
Property-fee collection is running.
  cases     {system.url('cases')}      (API: /api/v1/cases)
  dashboard {system.url('cases')}/dashboard   {_demo_sign_in(system)}
  notifier  {system.url('notifier')}
  gateway   {system.url('gateway')}      (webhooks: /webhooks/twilio/sms, /webhooks/twilio/status)

A staff token (admin, good for {system.env.get("STAFF_TOKEN_MINUTES") or 15} minutes; `make token` prints a fresh one):
  export TOKEN={token}
List the demo cases:
  curl -s -H "Authorization: Bearer $TOKEN" {system.url('cases')}/api/v1/cases
Simulate an owner texting back (signed like Twilio):
  make reply FROM=+8613800138001 BODY='下周五交'
The FAQ (收费答客问) that answers owners' questions, and how a text matches it:
  curl -s -H "Authorization: Bearer $TOKEN" {system.url('gateway')}/api/v1/faq
  make reply FROM=+8613800138001 BODY='物业费包括什么？'
Messages the console providers kept: var/console_outbox.jsonl
(send windows are off for the demo: NOTIFIER_SEND_IMMEDIATELY=false make run to see them)
Ctrl-C stops everything.
"""


if __name__ == "__main__":
    main()

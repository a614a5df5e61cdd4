"""Fuzz every staff API with schemathesis, against the whole system started as `make run` does.

Not part of `make test` (it takes minutes and needs schemathesis, which the project does not pin).
Install it in a venv of its own so the project's dependencies stay as they are:

    python3 -m venv /tmp/fuzzvenv && /tmp/fuzzvenv/bin/pip install schemathesis
    .venv/bin/python tests/fuzz/run_schemathesis.py                 # SQLite, embedded broker
    .venv/bin/python tests/fuzz/run_schemathesis.py --postgres      # throwaway PostgreSQL databases

It starts the three services and their workers in a fresh DATA_DIR on their own ports (18001-18003
by default), loads the demo data, mints an admin token with the system's SECRET_KEY for each
service's run, runs `st run <service>/api/v1/openapi.json --checks all` and stops everything.
Reports (NDJSON, JUnit) and the services' logs (the 500s' tracebacks) go under --out. The exit
status is non-zero if any run found a failure.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from deploy.local import SERVICES, LocalSystem  # noqa: E402
from shared.auth import issue_token  # noqa: E402
from shared.config import Settings  # noqa: E402

POSTGRES = "postgresql://postgres@127.0.0.1:5432"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--st", default=os.environ.get("ST", "/tmp/fuzzvenv/bin/st"), help="the schemathesis CLI")
    parser.add_argument("--services", default=",".join(SERVICES), help="comma-separated: cases,notifier,gateway")
    parser.add_argument("--examples", type=int, default=50, help="at most this many test cases per operation")
    parser.add_argument("--port-base", type=int, default=18000, help="cases on +1, notifier +2, gateway +3")
    parser.add_argument("--postgres", action="store_true", help="each service on a throwaway PostgreSQL database")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run (schemathesis prints its seed)")
    parser.add_argument("--out", type=Path, default=None, help="where reports and logs go (default: a temp dir)")
    args = parser.parse_args()

    out = args.out or Path(tempfile.mkdtemp(prefix="fuzz-"))
    data_dir = out / "var"
    data_dir.mkdir(parents=True, exist_ok=True)
    ports = {service: args.port_base + n for n, service in enumerate(SERVICES, start=1)}
    env = {"DATA_DIR": str(data_dir), "NOTIFIER_SEND_IMMEDIATELY": "true",
           "NOTIFIER_METRICS_URL": f"http://127.0.0.1:{ports['notifier']}/metrics"}
    databases = []
    if args.postgres:
        suffix = uuid.uuid4().hex[:8]
        databases = [f"fuzz_{service}_{suffix}" for service in SERVICES]
        _postgres(*(f"CREATE DATABASE {name}" for name in databases))
        env.update({f"{service.upper()}_DATABASE_URL": f"{POSTGRES}/{name}"
                    for service, name in zip(SERVICES, databases, strict=True)})
    failed = False
    system = LocalSystem(env, ports=ports, log_dir=out / "logs")
    try:
        system.migrate()
        system.run("-m", "services.cases", "demo")
        system.run("-m", "services.gateway", "demo")
        with system.start():
            system.wait_ready(120)
            secret = Settings.from_env(system.env).secret_key
            for service in args.services.split(","):
                failed |= _fuzz(args, system.url(service), service, secret, out)
    finally:
        if databases:
            _postgres(*(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)" for name in databases))
    print(f"reports and logs: {out}")
    return 1 if failed else 0


def _fuzz(args, url: str, service: str, secret: str, out: Path) -> bool:
    token = issue_token(secret, "fuzz-admin", "admin")  # fresh for each run: tokens live 15 minutes
    command = [args.st, "run", f"{url}/api/v1/openapi.json", "-H", f"Authorization: Bearer {token}",
               "--checks", "all", "--max-examples", str(args.examples), "--workers", "2", "--no-color",
               "--generation-database", "none", "--report", "ndjson,junit", "--report-dir", str(out / service)]
    if args.seed is not None:
        command += ["--seed", str(args.seed)]
    print(f"== {service}: {url}", flush=True)
    return subprocess.run(command, cwd=out).returncode != 0  # schemathesis keeps its cache in the cwd


def _postgres(*statements: str) -> None:
    import psycopg

    with psycopg.connect(f"{POSTGRES}/postgres", autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


if __name__ == "__main__":
    sys.exit(main())

"""`make run` tells you how to sign in to the dashboard: the demo manager's password is kept for you."""
from __future__ import annotations

import stat

from services.cases.demo import MANAGER, load_demo
from shared.db import make_engine
from tests.unit.report_builders import D
from tests.unit.sqlite_services import migrated_database
from tests.unit.test_report_mail import client_for


def test_the_demo_keeps_the_managers_password_privately_and_it_signs_in(tmp_path, monkeypatch):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    password_file = tmp_path / "var" / "demo-manager.password"
    assert load_demo(engine, D, password_file=password_file) == 3
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text(encoding="utf-8").strip()
    client, _app = client_for(tmp_path, monkeypatch, engine, "")

    signed_in = client.post("/api/v1/auth/token", json={"username": MANAGER.username, "password": password})
    assert signed_in.status_code == 200, signed_in.get_json()
    assert signed_in.get_json()["token"]
    wrong = client.post("/api/v1/auth/token", json={"username": MANAGER.username, "password": password + "x"})
    assert wrong.status_code == 401
    engine.dispose()


def test_loading_the_demo_again_keeps_the_first_password(tmp_path):
    engine = make_engine(migrated_database(tmp_path, "cases"))
    password_file = tmp_path / "demo-manager.password"
    load_demo(engine, D, password_file=password_file)
    first = password_file.read_text(encoding="utf-8")
    assert load_demo(engine, D, password_file=password_file) == 0
    assert password_file.read_text(encoding="utf-8") == first
    engine.dispose()

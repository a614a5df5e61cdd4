"""Staff sign in, are appointed within their communities, and share the cases out fairly."""
from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select, update

from services.cases import domain, handlers, people
from services.cases.__main__ import main as cases_cli
from services.cases.tables import case_assignments, cases, staff
from shared.auth import Staff, issue_token, read_token
from tests.unit.sqlite_services import (
    add_community,
    cases_app,
    root_logging_kept,
    row_count,
    set_environment,
)

HOME, ELSEWHERE = "lakeside-garden", "river-view"
TODAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PASSWORD = "correct horse battery"
LAST_YEAR, THIS_YEAR = date(2024, 11, 30), date(2025, 4, 30)


@pytest.fixture
def app(tmp_path, monkeypatch):
    app = cases_app(tmp_path, monkeypatch, lambda: NOW, (HOME, ELSEWHERE))
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def db(app):
    return app.extensions["cases.db"]


@pytest.fixture
def client(app):
    return app.test_client()


def hire(db, username: str, role: str = "collector", communities=(HOME,), active: bool = True) -> str:
    with db.begin() as connection:
        staff_id = people.create_staff(connection, people.NewStaff(username, username.title(), role,
                                                                   tuple(communities), PASSWORD), NOW)
        if not active:
            people.update_staff(connection, staff_id, active=False)
    return staff_id


def bearer(app, staff_id: str, role: str, communities=(HOME,)) -> dict:
    return {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], staff_id, role, communities)}"}


def open_case(db, unit: str, due_date: date = THIS_YEAR, key_owner: bool = False, community: str = HOME,
              amount: str = "1000.00", stage: str | None = None) -> str:
    with db.begin() as connection:
        case_id = handlers.open_case(connection, domain.OpenCase(
            community=community, amount_owed=Decimal(amount), building="1", unit_number=unit,
            owner=domain.OwnerDetails(f"Owner {unit}", None, None, key_owner=key_owner), due_date=due_date,
        ), "tester", TODAY)
        if stage:
            connection.execute(update(cases).where(cases.c.id == case_id).values(stage=stage))
    return case_id


def make_group(db, kind: str, members, community: str = HOME) -> str:
    with db.begin() as connection:
        return people.create_group(connection, community, kind.replace("_", " "), kind, members=members)


def auto_assign(db, community: str = HOME) -> people.AutoAssignment:
    with db.begin() as connection:
        return people.auto_assign(connection, community, TODAY, "manager-1", NOW)


def holders(db) -> dict[str, str | None]:
    with db.connect() as connection:
        return dict(connection.execute(select(cases.c.id, cases.c.assignee_id)).all())


def sign_in(client, username: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", json={"username": username, "password": password})


# Signing in

def test_staff_sign_in_with_their_password_and_get_a_token_for_their_role_and_communities(app, db, client):
    staff_id = hire(db, "li.ming", "supervisor", (HOME, ELSEWHERE))

    response = sign_in(client, "Li.Ming")

    assert response.status_code == 200
    body = response.get_json()
    assert body["role"] == "supervisor" and body["communities"] == [HOME, ELSEWHERE]
    assert body["expires_in"] == 15 * 60 and body["refresh_token"]
    assert read_token(app.config["SECRET_KEY"], body["token"]) == Staff(staff_id, "supervisor", (HOME, ELSEWHERE))


def test_a_wrong_password_and_an_unknown_username_get_the_same_401(db, client):
    hire(db, "li.ming")

    wrong = sign_in(client, "li.ming", "not the password")
    unknown = sign_in(client, "nobody.here")

    assert wrong.status_code == unknown.status_code == 401
    assert wrong.get_json() == unknown.get_json()
    assert set(wrong.get_json()) == {"code", "status", "message", "errors"}


def test_inactive_staff_cannot_sign_in_even_with_the_right_password(db, client):
    hire(db, "li.ming", active=False)

    assert sign_in(client, "li.ming").status_code == 401


@pytest.mark.parametrize("body", [
    pytest.param({"username": "li.ming"}, id="no-password"),
    pytest.param({"password": PASSWORD}, id="no-username"),
    pytest.param({"username": "li.ming", "password": PASSWORD, "role": "admin"}, id="unknown-field"),
    pytest.param({"username": "li.ming", "password": ""}, id="empty-password"),
])
def test_a_malformed_sign_in_is_422(db, client, body):
    hire(db, "li.ming")

    assert client.post("/api/v1/auth/token", json=body).status_code == 422


def test_five_failed_sign_ins_lock_the_username_even_for_the_right_password(db, client):
    hire(db, "li.ming")
    hire(db, "wang.fang")

    failures = [sign_in(client, "li.ming", f"guess {n}").status_code for n in range(5)]
    locked = sign_in(client, "li.ming")

    assert failures == [401] * 5
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert set(locked.get_json()) == {"code", "status", "message", "errors"}
    assert sign_in(client, "wang.fang").status_code == 200


def test_a_lock_lifts_once_the_oldest_failure_is_older_than_the_window():
    clock = [1000.0]
    failures = people.FailedSignIns(limit=3, window=60, clock=lambda: clock[0])
    for _ in range(3):
        failures.failed("li.ming")

    locked_for = failures.locked_for("li.ming")
    clock[0] += 60

    assert locked_for == 60
    assert failures.locked_for("li.ming") == 0


def test_a_successful_sign_in_clears_the_failures_before_it():
    failures = people.FailedSignIns(limit=2, window=60)
    failures.failed("li.ming")
    failures.succeeded("li.ming")
    failures.failed("li.ming")

    assert failures.locked_for("li.ming") == 0


def test_a_spray_of_usernames_cannot_grow_the_failure_count_without_bound():
    failures = people.FailedSignIns(max_usernames=100)
    for n in range(1000):
        failures.failed(f"guess-{n}")

    assert len(failures) <= 100


# The first admin

def cli(tmp_path, monkeypatch, *args: str) -> None:
    set_environment(monkeypatch, CASES_DATABASE_URL=f"sqlite:///{tmp_path / 'cases'}.sqlite",
                    DATA_DIR=str(tmp_path), SECRET_KEY="cases-secret")
    with root_logging_kept():
        cases_cli(list(args))


def printed(output: str, label: str) -> str:
    return next(line.split(": ", 1)[1] for line in output.splitlines() if line.startswith(label))


def test_create_admin_prints_a_password_that_signs_in_and_an_admin_token(app, client, tmp_path, monkeypatch,
                                                                          capsys):
    cli(tmp_path, monkeypatch, "create-admin", "--username", "Root", "--name", "Zhang Wei")

    output = capsys.readouterr().out
    password, token = printed(output, "Password"), printed(output, "Token")
    signed_in = sign_in(client, "root", password)
    assert signed_in.status_code == 200 and signed_in.get_json()["role"] == "admin"
    admin = read_token("cases-secret", token)
    assert admin.role == "admin" and admin.sub == read_token("cases-secret", signed_in.get_json()["token"]).sub


def test_create_admin_refuses_a_username_that_exists_and_changes_nothing(app, db, tmp_path, monkeypatch, capsys):
    cli(tmp_path, monkeypatch, "create-admin", "--username", "root")
    first_password = printed(capsys.readouterr().out, "Password")

    with pytest.raises(SystemExit) as refused:
        cli(tmp_path, monkeypatch, "create-admin", "--username", "ROOT")

    assert refused.value.code != 0 and "taken" in str(refused.value.code)
    assert "Password" not in capsys.readouterr().out
    assert row_count(db, staff) == 1
    with db.connect() as connection:
        assert people.sign_in(connection, "root", first_password) is not None


# Appointing staff

def test_an_admin_appoints_a_manager_and_a_generated_password_is_shown_once(app, client):
    admin = bearer(app, "admin-1", "admin", ())

    created = client.post("/api/v1/staff", json={"username": "zhao.lei", "name": "Zhao Lei", "role": "manager",
                                                 "communities": [HOME]}, headers=admin)

    assert created.status_code == 201
    body = created.get_json()
    assert body["role"] == "manager" and body["communities"] == [HOME] and body["active"] is True
    assert sign_in(client, "zhao.lei", body["password"]).status_code == 200
    shown_again = client.get(f"/api/v1/staff/{body['id']}", headers=admin).get_json()
    assert "password" not in shown_again and "password_hash" not in shown_again


def test_passwords_are_stored_hashed_and_never_returned(app, db, client):
    staff_id = hire(db, "li.ming")

    listed = client.get("/api/v1/staff", headers=bearer(app, "admin-1", "admin", ())).get_json()

    with db.connect() as connection:
        stored = connection.execute(select(staff.c.password_hash).where(staff.c.id == staff_id)).scalar_one()
    assert stored.startswith(("scrypt:", "pbkdf2:")) and PASSWORD not in stored
    assert listed["total"] == 1 and "password_hash" not in listed["items"][0]
    assert "password" not in listed["items"][0]


def test_a_manager_appoints_a_collector_in_their_community(app, db, client):
    manager = hire(db, "zhao.lei", "manager")

    created = client.post("/api/v1/staff", headers=bearer(app, manager, "manager"), json={
        "username": "li.ming", "name": "Li Ming", "role": "collector", "communities": [HOME],
        "password": PASSWORD})

    assert created.status_code == 201 and "password" not in created.get_json()
    assert sign_in(client, "li.ming").get_json()["communities"] == [HOME]


@pytest.mark.parametrize("appointer, body, status", [
    pytest.param("manager", {"role": "manager", "communities": [HOME]}, 403, id="manager-makes-manager"),
    pytest.param("manager", {"role": "admin", "communities": [HOME]}, 403, id="manager-makes-admin"),
    pytest.param("manager", {"role": "collector", "communities": [ELSEWHERE]}, 403, id="manager-elsewhere"),
    pytest.param("manager", {"role": "collector", "communities": [HOME, ELSEWHERE]}, 403, id="manager-partly"),
    pytest.param("supervisor", {"role": "collector", "communities": [HOME]}, 403, id="supervisor-appoints"),
    pytest.param("collector", {"role": "collector", "communities": [HOME]}, 403, id="collector-appoints"),
    pytest.param("admin", {"role": "collector", "communities": []}, 422, id="no-community"),
    pytest.param("admin", {"role": "collector", "communities": ["atlantis"]}, 422, id="unknown-community"),
    pytest.param("admin", {"role": "janitor", "communities": [HOME]}, 422, id="unknown-role"),
    pytest.param("admin", {"role": "collector", "communities": [HOME], "password": "short"}, 422,
                 id="short-password"),
    pytest.param("admin", {"role": "collector", "communities": [HOME], "username": "has space"}, 422,
                 id="bad-username"),
    pytest.param("admin", {"role": "collector", "communities": [HOME], "username": "ZHAO.LEI"}, 409,
                 id="username-taken"),
])
def test_an_appointment_outside_the_rules_is_refused_and_writes_nothing(app, db, client, appointer, body, status):
    existing = hire(db, "zhao.lei", "manager")
    headers = bearer(app, existing if appointer == "manager" else f"{appointer}-1", appointer,
                     () if appointer == "admin" else (HOME,))

    response = client.post("/api/v1/staff", headers=headers,
                           json={"username": "li.ming", "name": "Li Ming", **body})

    assert response.status_code == status, response.get_json()
    assert row_count(db, staff) == 1


def test_a_manager_changing_communities_leaves_those_outside_their_scope(app, db, client):
    manager = hire(db, "zhao.lei", "manager", (HOME,))
    collector = hire(db, "li.ming", "collector", (HOME, ELSEWHERE))
    add_community(db, "hill-top")

    changed = client.patch(f"/api/v1/staff/{collector}", headers=bearer(app, manager, "manager", (HOME,)),
                           json={"communities": [], "role": "supervisor"})

    assert changed.status_code == 200
    assert changed.get_json()["communities"] == [] and changed.get_json()["role"] == "supervisor"
    with db.connect() as connection:
        assert people.communities_of(connection, collector) == (ELSEWHERE,)


def test_deactivated_staff_can_no_longer_sign_in(app, db, client):
    manager = hire(db, "zhao.lei", "manager")
    collector = hire(db, "li.ming")

    changed = client.patch(f"/api/v1/staff/{collector}", headers=bearer(app, manager, "manager"),
                           json={"active": False})

    assert changed.status_code == 200 and changed.get_json()["active"] is False
    assert sign_in(client, "li.ming").status_code == 401


@pytest.mark.parametrize("change", [{"role": "collector"}, {"active": False}], ids=["role", "deactivate"])
def test_nobody_demotes_or_deactivates_themselves(app, db, client, change):
    admin = hire(db, "root", "admin", ())

    response = client.patch(f"/api/v1/staff/{admin}", headers=bearer(app, admin, "admin", ()), json=change)

    assert response.status_code == 403
    assert sign_in(client, "root").get_json()["role"] == "admin"


def test_a_change_that_names_nothing_to_change_is_422(app, db, client):
    collector = hire(db, "li.ming")

    assert client.patch(f"/api/v1/staff/{collector}", headers=bearer(app, "admin-1", "admin", ()),
                        json={}).status_code == 422


# Groups

def test_a_manager_sets_up_a_group_and_replaces_its_members(app, db, client):
    manager, li, wang = hire(db, "zhao.lei", "manager"), hire(db, "li.ming"), hire(db, "wang.fang")
    headers = bearer(app, manager, "manager")

    created = client.post(f"/api/v1/communities/{HOME}/groups", headers=headers, json={
        "name": "主管组", "kind": "supervisor_led", "leader_id": manager, "members": [li]})
    group_id = created.get_json()["id"]
    replaced = client.put(f"/api/v1/groups/{group_id}/members", headers=headers, json={"staff_ids": [wang, li]})
    listed = client.get(f"/api/v1/communities/{HOME}/groups", headers=headers)

    assert created.status_code == 201 and [m["id"] for m in created.get_json()["members"]] == [li]
    assert replaced.status_code == 200
    assert [m["username"] for m in replaced.get_json()["members"]] == ["li.ming", "wang.fang"]
    assert listed.get_json() == [replaced.get_json()]


@pytest.mark.parametrize("body, status", [
    pytest.param(lambda outsider: {"name": "supervisor led", "kind": "manager_led"}, 409, id="name-taken"),
    pytest.param(lambda outsider: {"name": "new", "kind": "night_shift"}, 422, id="unknown-kind"),
    pytest.param(lambda outsider: {"name": "new", "kind": "prior_year", "members": [outsider]}, 422,
                 id="member-elsewhere"),
    pytest.param(lambda outsider: {"name": "new", "kind": "prior_year", "leader_id": outsider}, 422,
                 id="leader-elsewhere"),
    pytest.param(lambda outsider: {"name": "new", "kind": "prior_year", "members": ["nobody"]}, 422,
                 id="member-unknown"),
])
def test_a_group_outside_the_rules_is_refused_and_writes_nothing(app, db, client, body, status):
    make_group(db, "supervisor_led", [])
    outsider = hire(db, "outsider", communities=(ELSEWHERE,))

    response = client.post(f"/api/v1/communities/{HOME}/groups", headers=bearer(app, "admin-1", "admin", ()),
                           json=body(outsider))

    assert response.status_code == status, response.get_json()
    with db.connect() as connection:
        assert len(people.groups_of(connection, HOME)) == 1


# Which group a case belongs to

@pytest.mark.parametrize("due_date, stage, key_owner, kind", [
    pytest.param(THIS_YEAR, "reminder", False, "supervisor_led", id="ordinary"),
    pytest.param(THIS_YEAR, "notice", False, "supervisor_led", id="ordinary-at-notice"),
    pytest.param(THIS_YEAR, "lawyer_letter", False, "manager_led", id="at-lawyers-letter"),
    pytest.param(THIS_YEAR, "follow_up_letter", False, "manager_led", id="past-lawyers-letter"),
    pytest.param(THIS_YEAR, "legal_review", False, "manager_led", id="legal-review"),
    pytest.param(THIS_YEAR, "reminder", True, "manager_led", id="key-owner"),
    pytest.param(date(2025, 1, 1), "reminder", False, "supervisor_led", id="new-years-day-is-this-year"),
    pytest.param(date(2024, 12, 31), "reminder", False, "prior_year", id="new-years-eve-is-prior-year"),
    # The brief: key owners are routed to the manager's group, even with old arrears.
    pytest.param(LAST_YEAR, "lawyer_letter", True, "manager_led", id="key-owner-before-prior-year"),
    pytest.param(LAST_YEAR, "lawyer_letter", False, "prior_year", id="prior-year-before-hard-cases"),
])
def test_each_kind_of_case_belongs_to_its_group(due_date, stage, key_owner, kind):
    assert people.group_kind_for(due_date, stage, key_owner, TODAY) == kind


def test_auto_assignment_routes_each_kind_of_case_to_its_groups_member(db):
    supervisor, manager, veteran = hire(db, "a.sup", "supervisor"), hire(db, "b.mgr", "manager"), hire(db, "c.old")
    groups = {kind: make_group(db, kind, [member]) for kind, member in
              (("supervisor_led", supervisor), ("manager_led", manager), ("prior_year", veteran))}
    ordinary, key, hard, old = (open_case(db, "101"), open_case(db, "102", key_owner=True),
                                open_case(db, "103", stage="lawyer_letter"), open_case(db, "104", LAST_YEAR))

    result = auto_assign(db)

    assert result.assigned == {"supervisor_led": 1, "manager_led": 2, "prior_year": 1} and result.unrouted == {}
    assert holders(db) == {ordinary: supervisor, key: manager, hard: manager, old: veteran}
    with db.connect() as connection:
        group_of = dict(connection.execute(select(cases.c.id, cases.c.group_id)).all())
    assert group_of == {ordinary: groups["supervisor_led"], key: groups["manager_led"],
                        hard: groups["manager_led"], old: groups["prior_year"]}


# Sharing the work fairly

def test_ten_cases_over_three_collectors_go_four_three_three_with_ties_by_username(db):
    team = [hire(db, name) for name in ("carol", "alice", "bob")]
    make_group(db, "supervisor_led", team)
    for n in range(10):
        open_case(db, f"2{n:02}")

    assert auto_assign(db).total == 10

    with db.connect() as connection:
        assert people.open_loads(connection, team) == {team[1]: 4, team[2]: 3, team[0]: 3}


def test_a_collector_already_holding_cases_gets_fewer_new_ones(db):
    alice, bob, carol = (hire(db, name) for name in ("alice", "bob", "carol"))
    make_group(db, "prior_year", [carol])
    for n in range(2):
        open_case(db, f"1{n:02}", LAST_YEAR)
    auto_assign(db)
    make_group(db, "supervisor_led", [alice, bob, carol])
    for n in range(10):
        open_case(db, f"2{n:02}")

    auto_assign(db)

    with db.connect() as connection:
        assert people.open_loads(connection, [alice, bob, carol]) == {alice: 4, bob: 4, carol: 4}


def test_inactive_members_and_members_who_left_the_community_get_no_cases(db):
    working, resting, moved = hire(db, "alice"), hire(db, "bob", active=False), hire(db, "carol")
    make_group(db, "supervisor_led", [working, resting, moved])
    with db.begin() as connection:
        people.update_staff(connection, moved, communities=(ELSEWHERE,))
    for n in range(3):
        open_case(db, f"3{n:02}")

    auto_assign(db)

    assert set(holders(db).values()) == {working}


def test_cases_whose_group_has_nobody_stay_unassigned_and_are_counted(db):
    make_group(db, "supervisor_led", [hire(db, "alice")])
    make_group(db, "manager_led", [])
    open_case(db, "101")
    key = open_case(db, "102", key_owner=True)
    old = open_case(db, "103", LAST_YEAR)

    result = auto_assign(db)

    assert result.assigned == {"supervisor_led": 1}
    assert result.unrouted == {"manager_led": 1, "prior_year": 1}
    assert holders(db)[key] is None and holders(db)[old] is None


def test_a_second_auto_assignment_leaves_assigned_cases_where_they_are(db):
    make_group(db, "supervisor_led", [hire(db, "alice")])
    open_case(db, "101")
    auto_assign(db)
    before = holders(db)
    make_group(db, "prior_year", [hire(db, "bob")])

    assert auto_assign(db).total == 0
    assert holders(db) == before and row_count(db, case_assignments) == 1


def test_auto_assignment_over_the_api_returns_the_counts(app, db, client):
    manager = hire(db, "zhao.lei", "manager")
    make_group(db, "supervisor_led", [hire(db, "alice")])
    open_case(db, "101")
    open_case(db, "102", LAST_YEAR)
    open_case(db, "103", community=ELSEWHERE)

    response = client.post("/api/v1/assignments/auto", headers=bearer(app, manager, "manager"),
                           json={"community": HOME})

    assert response.status_code == 200
    assert response.get_json() == {"assigned": 1, "by_group": {"supervisor_led": 1},
                                   "unrouted": {"prior_year": 1}}


# Reassignment

def test_reassignment_ends_the_previous_holding_and_keeps_the_history(app, db, client):
    supervisor, alice, bob = hire(db, "zhao.lei", "supervisor"), hire(db, "alice"), hire(db, "bob")
    group = make_group(db, "supervisor_led", [alice, bob])
    case_id = open_case(db, "101", amount="2860.00")
    auto_assign(db)
    with db.begin() as connection:
        connection.execute(update(cases).where(cases.c.id == case_id).values(amount_owed=Decimal("1430.00")))
    headers = bearer(app, supervisor, "supervisor")

    moved = client.post(f"/api/v1/cases/{case_id}/assignment", headers=headers,
                        json={"staff_id": bob, "reason": "alice on leave"})
    history = client.get(f"/api/v1/cases/{case_id}/assignments", headers=headers).get_json()

    assert moved.status_code == 200 and moved.get_json()["staff_id"] == bob
    assert [(h["username"], h["reason"], h["assigned_by"], h["amount_owed_at_assignment"]) for h in history] == [
        ("alice", "auto:supervisor_led", "manager-1", "2860.00"),
        ("bob", "alice on leave", supervisor, "1430.00"),
    ]
    assert history[0]["ended_at"] is not None and history[1]["ended_at"] is None
    assert history[1]["group_id"] == group
    assert holders(db)[case_id] == bob


def test_reassigning_to_the_current_holder_adds_no_history(app, db, client):
    alice = hire(db, "alice")
    make_group(db, "supervisor_led", [alice])
    case_id = open_case(db, "101")
    auto_assign(db)

    response = client.post(f"/api/v1/cases/{case_id}/assignment", headers=bearer(app, "sup-1", "supervisor"),
                           json={"staff_id": alice, "reason": "again"})

    assert response.status_code == 200 and row_count(db, case_assignments) == 1


@pytest.mark.parametrize("who, status", [
    pytest.param("outsider", 422, id="staff-of-another-community"),
    pytest.param("resting", 422, id="inactive-staff"),
    pytest.param("nobody", 422, id="unknown-staff"),
    pytest.param("closed", 409, id="closed-case"),
])
def test_a_reassignment_outside_the_rules_is_refused_and_changes_nothing(app, db, client, who, status):
    staff_ids = {"outsider": hire(db, "outsider", communities=(ELSEWHERE,)),
                 "resting": hire(db, "resting", active=False), "closed": hire(db, "alice"), "nobody": "nobody"}
    case_id = open_case(db, "101")
    if who == "closed":
        with db.begin() as connection:
            connection.execute(update(cases).where(cases.c.id == case_id).values(status="closed"))

    response = client.post(f"/api/v1/cases/{case_id}/assignment", headers=bearer(app, "sup-1", "supervisor"),
                           json={"staff_id": staff_ids[who], "reason": "try"})

    assert response.status_code == status, response.get_json()
    assert row_count(db, case_assignments) == 0 and holders(db)[case_id] is None

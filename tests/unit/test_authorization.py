"""Staff reach only their own communities' data, and only what their role allows.

Two communities, each with a case, an issue, a group and a collector, supervisor and manager.
For every endpoint a staff member of one community tries the other's object: reading it looks
exactly like reading something that does not exist (404), naming the other community in a
change is forbidden (403), and nothing is written. The same request from the other
community's own staff then succeeds, so the refusal is about the community and nothing else.
The OpenAPI document is checked against these tables: a new endpoint fails until it has a row.
"""
from __future__ import annotations

import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from services.cases import domain, handlers, owner_issue, people
from services.cases.app import create_app
from services.cases.tables import campaigns, cases, metadata, owner_replies, staff_inbox, staff_tasks
from shared.auth import issue_token
from shared.db import make_engine
from tests.unit.sqlite_services import add_community, migrated_database, root_logging_kept, set_environment

OURS, THEIRS = "lakeside-garden", "river-view"
TODAY = date(2025, 6, 15)
NOW = datetime(2025, 6, 15, 2, 0, tzinfo=UTC)
ROLES = ("collector", "supervisor", "manager")
MISSING = "no-such-id"
# Needs no token: it is how staff get one (or, with a refresh token, the next one, or end it).
PUBLIC = {("POST", "/api/v1/auth/token"), ("POST", "/api/v1/auth/refresh"), ("POST", "/api/v1/auth/sign-out")}


@dataclass(frozen=True)
class Probe:
    """One request against a community's objects; `{case_id}` and the like name that community's."""

    method: str
    path: str
    role: str  # the role of both the outsider and the community's own staff member
    refused: int  # what the outsider gets
    allowed: int  # what the community's own staff member gets
    body: Callable[[dict], dict] | None = None
    query: Callable[[dict], dict] | None = None
    hides: str | None = None  # the id whose absence the refusal must look like

    def send(self, client, ids: dict, headers: dict):
        return client.open(self.path.format(**ids), method=self.method, headers=headers,
                           json=self.body(ids) if self.body else None,
                           query_string=self.query(ids) if self.query else None)


def new_case(ids):
    return {"community": ids["community_id"], "amount_owed": "880.00", "owner": {"name": "Zhou Min"}}


def payment(ids):
    return {"community": ids["community_id"], "building": "1", "unit_number": "101", "amount": "10.00",
            "paid_on": "2025-06-14", "receipt": "R-1"}


def ledger_rows(ids):
    return {"rows": [{"community": ids["community_id"], "building": "2", "unit": "201", "owner_name": "Zhou Min",
                      "fee_period": "2025-Q1", "amount_due": "500.00", "due_date": "2025-03-31"}]}


def payment_rows(ids):
    return {"rows": [{"community": ids["community_id"], "building": "1", "unit": "101", "receipt": "R-9",
                      "amount": "10.00", "paid_on": "2025-06-14"}]}


def new_campaign(ids):
    return {"name": "年底冲刺", "starts_on": "2025-10-01", "ends_on": "2025-12-31", "sends_per_day": 2,
            "target_recovery_rate": "0.3", "communities": [ids["community_id"]]}


def of_community(ids):
    return {"community": ids["community_id"]}


def report_email(ids):
    return {"kind": "daily_progress", "community": ids["community_id"]}


def new_staff(ids):
    return {"username": "new.hire", "name": "New Hire", "role": "collector",
            "communities": [ids["community_id"]], "password": "correct horse battery"}


ACROSS_COMMUNITIES = [
    pytest.param(Probe("GET", "/api/v1/communities/{community_id}", "collector", 404, 200, hides="community_id"),
                 id="communities-get-one"),
    pytest.param(Probe("PUT", "/api/v1/communities/{community_id}", "manager", 403, 200,
                       body=lambda ids: {"name": "Renamed"}), id="communities-put"),
    pytest.param(Probe("GET", "/api/v1/cases/{case_id}", "collector", 404, 200, hides="case_id"),
                 id="cases-get-one"),
    pytest.param(Probe("POST", "/api/v1/cases", "collector", 403, 201, body=new_case), id="cases-open"),
    pytest.param(Probe("POST", "/api/v1/cases/{case_id}/promises", "collector", 404, 201,
                       body=lambda ids: {"promised_date": "2025-06-20"}, hides="case_id"), id="cases-promise"),
    pytest.param(Probe("POST", "/api/v1/cases/{case_id}/approval", "manager", 404, 200,
                       body=lambda ids: {"stage": "lawyer_letter"}, hides="case_id"), id="cases-approve"),
    # The case is named in the body, so it is a field error; still the same as a case that does not exist.
    pytest.param(Probe("POST", "/api/v1/issues", "collector", 422, 201, hides="case_id", body=lambda ids: {
        "case_id": ids["case_id"], "category": "leaks", "description": "Ceiling leaks."}), id="issues-open"),
    pytest.param(Probe("GET", "/api/v1/issues/{issue_id}", "collector", 404, 200, hides="issue_id"),
                 id="issues-get-one"),
    pytest.param(Probe("POST", "/api/v1/issues/{issue_id}/status", "collector", 404, 200,
                       body=lambda ids: {"status": "in_progress"}, hides="issue_id"), id="issues-status"),
    pytest.param(Probe("POST", "/api/v1/payments", "collector", 403, 201, body=payment), id="payments-record"),
    pytest.param(Probe("POST", "/api/v1/tasks/{task_id}/done", "collector", 404, 200, hides="task_id"),
                 id="tasks-finish"),
    pytest.param(Probe("POST", "/api/v1/inbox/{inbox_id}/answered", "collector", 404, 200, hides="inbox_id",
                       body=lambda ids: {"note": "Called back."}), id="inbox-answered"),
    pytest.param(Probe("GET", "/api/v1/campaigns/{campaign_id}", "collector", 404, 200, hides="campaign_id"),
                 id="campaigns-read"),
    pytest.param(Probe("POST", "/api/v1/campaigns", "manager", 403, 201, body=new_campaign), id="campaigns-start"),
    pytest.param(Probe("GET", "/api/v1/staff/{staff_id}", "collector", 404, 200, hides="staff_id"),
                 id="staff-get-one"),
    pytest.param(Probe("POST", "/api/v1/staff", "manager", 403, 201, body=new_staff), id="staff-appoint"),
    pytest.param(Probe("PATCH", "/api/v1/staff/{staff_id}", "manager", 404, 200,
                       body=lambda ids: {"active": False}, hides="staff_id"), id="staff-change"),
    pytest.param(Probe("POST", "/api/v1/staff/{staff_id}/sign-out", "manager", 404, 200, hides="staff_id"),
                 id="staff-sign-out-everywhere"),
    pytest.param(Probe("POST", "/api/v1/staff/{staff_id}/password", "manager", 404, 200, body=lambda ids: {},
                       hides="staff_id"), id="staff-password-reset"),
    pytest.param(Probe("POST", "/api/v1/communities/{community_id}/groups", "manager", 403, 201,
                       body=lambda ids: {"name": "往年欠费组", "kind": "prior_year"}), id="groups-create"),
    pytest.param(Probe("GET", "/api/v1/communities/{community_id}/groups", "collector", 404, 200,
                       hides="community_id"), id="groups-list"),
    pytest.param(Probe("PUT", "/api/v1/groups/{group_id}/members", "manager", 404, 200,
                       body=lambda ids: {"staff_ids": [ids["staff_id"]]}, hides="group_id"), id="groups-members"),
    pytest.param(Probe("POST", "/api/v1/assignments/auto", "manager", 403, 200,
                       body=of_community), id="assignments-auto"),
    pytest.param(Probe("POST", "/api/v1/cases/{case_id}/assignment", "supervisor", 404, 200, hides="case_id",
                       body=lambda ids: {"staff_id": ids["staff_id"], "reason": "cover"}), id="assignments-reassign"),
    pytest.param(Probe("GET", "/api/v1/cases/{case_id}/assignments", "collector", 404, 200, hides="case_id"),
                 id="assignments-history"),
    *[pytest.param(Probe("GET", f"/api/v1/reports/{report}", "collector", 404, 200, query=of_community,
                         hides="community_id"), id=f"reports-{report}")
      for report in ("daily", "ranking", "funnel", "periodic")],
    pytest.param(Probe("GET", "/api/v1/dashboard", "collector", 404, 200, query=of_community,
                       hides="community_id"), id="dashboard"),
    pytest.param(Probe("POST", "/api/v1/reports/email", "manager", 403, 202, body=report_email),
                 id="reports-email"),
    pytest.param(Probe("GET", "/api/v1/cases/{case_id}/timeline", "collector", 404, 200, hides="case_id"),
                 id="timeline"),
    # Exporting is itself noted on the case, so a refused export must write nothing either.
    pytest.param(Probe("GET", "/api/v1/cases/{case_id}/timeline/export", "collector", 404, 200,
                       hides="case_id"), id="timeline-export"),
    # Imports answer for each row: another community's row is a bad row, and a file of bad rows writes nothing.
    pytest.param(Probe("POST", "/api/v1/imports/ledger", "manager", 422, 200, body=ledger_rows),
                 id="imports-ledger"),
    pytest.param(Probe("POST", "/api/v1/imports/payments", "manager", 422, 200, body=payment_rows),
                 id="imports-payments"),
]

# Same community, but a role that may not do it (admins may do anything).
BEYOND_THE_ROLE = [
    pytest.param(Probe("POST", "/api/v1/cases/{case_id}/approval", role, 403, 200,
                       body=lambda ids: {"stage": "lawyer_letter"}), id=f"{role}-approves")
    for role in ("collector", "supervisor")
] + [
    pytest.param(Probe("POST", "/api/v1/sweep", role, 403, 200), id=f"{role}-sweeps")
    for role in ("collector", "supervisor")
] + [
    pytest.param(Probe("POST", "/api/v1/campaigns", "supervisor", 403, 201, body=new_campaign),
                 id="supervisor-starts-campaign"),
    pytest.param(Probe("PUT", "/api/v1/communities/{community_id}", "collector", 403, 200,
                       body=lambda ids: {"name": "Renamed"}), id="collector-edits-community"),
    pytest.param(Probe("POST", "/api/v1/staff", "collector", 403, 201, body=new_staff), id="collector-appoints"),
    pytest.param(Probe("POST", "/api/v1/staff", "supervisor", 403, 201, body=new_staff), id="supervisor-appoints"),
    pytest.param(Probe("POST", "/api/v1/staff", "manager", 403, 201,
                       body=lambda ids: {**new_staff(ids), "role": "manager"}), id="manager-appoints-manager"),
    pytest.param(Probe("PATCH", "/api/v1/staff/{staff_id}", "collector", 403, 200,
                       body=lambda ids: {"active": False}), id="collector-changes-staff"),
    pytest.param(Probe("PATCH", "/api/v1/staff/{staff_id}", "manager", 403, 200,
                       body=lambda ids: {"role": "manager"}), id="manager-promotes-to-manager"),
    pytest.param(Probe("PATCH", "/api/v1/staff/{manager_id}", "manager", 403, 200,
                       body=lambda ids: {"active": False}), id="manager-changes-a-manager"),
    pytest.param(Probe("POST", "/api/v1/staff/{manager_id}/sign-out", "supervisor", 403, 200),
                 id="supervisor-signs-out-a-manager"),
    pytest.param(Probe("POST", "/api/v1/staff/{manager_id}/password", "supervisor", 403, 200, body=lambda ids: {}),
                 id="supervisor-resets-a-managers-password"),
    pytest.param(Probe("POST", "/api/v1/communities/{community_id}/groups", "supervisor", 403, 201,
                       body=lambda ids: {"name": "往年欠费组", "kind": "prior_year"}), id="supervisor-creates-group"),
    pytest.param(Probe("PUT", "/api/v1/groups/{group_id}/members", "collector", 403, 200,
                       body=lambda ids: {"staff_ids": []}), id="collector-sets-members"),
    pytest.param(Probe("POST", "/api/v1/assignments/auto", "supervisor", 403, 200,
                       body=of_community), id="supervisor-auto-assigns"),
    pytest.param(Probe("POST", "/api/v1/cases/{case_id}/assignment", "collector", 403, 200,
                       body=lambda ids: {"staff_id": ids["staff_id"], "reason": "mine"}), id="collector-reassigns"),
    pytest.param(Probe("POST", "/api/v1/imports/ledger", "collector", 403, 200, body=ledger_rows),
                 id="collector-imports-ledger"),
    pytest.param(Probe("POST", "/api/v1/imports/payments", "collector", 403, 200, body=payment_rows),
                 id="collector-imports-payments"),
] + [
    pytest.param(Probe("POST", "/api/v1/reports/email", role, 403, 202, body=report_email), id=f"{role}-emails-report")
    for role in ("collector", "supervisor")
] + [
    # Ops: queue health for managers (the dashboard's panel), the dead-letter tools for admins only.
    pytest.param(Probe("GET", "/api/v1/ops/queues", role, 403, 200), id=f"{role}-reads-queue-health")
    for role in ("collector", "supervisor")
] + [
    pytest.param(Probe("GET", "/api/v1/ops/dead-letters/{service}", "manager", 403, 200),
                 id="manager-lists-dead-letters"),
    pytest.param(Probe("GET", "/api/v1/ops/dead-letters/{service}/{message_id}", "manager", 403, 404),
                 id="manager-inspects-a-dead-letter"),
    pytest.param(Probe("POST", "/api/v1/ops/dead-letters/{service}/replay", "manager", 403, 200,
                       body=lambda ids: {"all": True}), id="manager-replays-dead-letters"),
    pytest.param(Probe("POST", "/api/v1/ops/dead-letters/{service}/purge", "manager", 403, 200,
                       body=lambda ids: {"confirm": "notifier.dead"}), id="manager-purges-dead-letters"),
]


@dataclass(frozen=True)
class Listing:
    path: str
    ids_of: Callable[[object], list[str]]  # the ids in a response body
    mine: str  # which of our ids the list must hold (and theirs must not)


def items(body) -> list[str]:
    return sorted(item["id"] for item in body["items"])


LISTS = [
    pytest.param(Listing("/api/v1/communities", lambda body: [c["id"] for c in body], "community_id"),
                 id="communities"),
    pytest.param(Listing("/api/v1/cases", items, "case_id"), id="cases"),
    pytest.param(Listing("/api/v1/issues", items, "issue_id"), id="issues"),
    pytest.param(Listing("/api/v1/tasks", items, "task_id"), id="tasks"),
    pytest.param(Listing("/api/v1/inbox", items, "inbox_id"), id="inbox"),
    pytest.param(Listing("/api/v1/campaigns", lambda body: [c["id"] for c in body], "campaign_id"),
                 id="campaigns"),
    pytest.param(Listing("/api/v1/staff", items, "staff_ids"), id="staff"),
]
LISTS_FILTERED_TO_THEIRS = [
    pytest.param("/api/v1/cases", id="cases"),
    pytest.param("/api/v1/issues", id="issues"),
    pytest.param("/api/v1/staff", id="staff"),
    pytest.param("/api/v1/inbox", id="inbox"),
]
COVERED = ({(p.values[0].method, p.values[0].path) for p in ACROSS_COMMUNITIES + BEYOND_THE_ROLE}
           | {("GET", p.values[0].path) for p in LISTS} | {("POST", "/api/v1/sweep")})


def seed(engine, community: str) -> dict:
    """A community with a case, an issue, a group and one staff member of each role."""
    add_community(engine, community)
    with engine.begin() as connection:
        staff = {role: people.create_staff(connection, people.NewStaff(
            f"{role}.{community}", role.title(), role, (community,), "correct horse battery"), NOW) for role in ROLES}
        case_id = handlers.open_case(connection, domain.OpenCase(
            community=community, amount_owed=Decimal("2860.00"), building="1", unit_number="101",
            owner=domain.OwnerDetails("Wang Fang", None, None), due_date=date(2025, 4, 30)), "seed", TODAY)
        issue_id = owner_issue.open_issue(connection, owner_id=owner_of(connection, case_id), community=community,
                                          case_id=case_id, category="leaks", description="Leak", source="staff",
                                          actor="seed", now=NOW)
        group_id = people.create_group(connection, community, "主管组", "supervisor_led",
                                       staff["supervisor"], [staff["collector"]])
        task_id = f"task-{community}"
        connection.execute(staff_tasks.insert().values(
            id=task_id, kind="reverify_contacts", community=community, owner_id=owner_of(connection, case_id),
            case_id=case_id, status="open", created_at=NOW))
        campaign_id = f"campaign-{community}"
        connection.execute(campaigns.insert().values(
            id=campaign_id, name="年底冲刺", starts_on=date(2025, 10, 1), ends_on=date(2025, 12, 31),
            sends_per_day=2, target_recovery_rate=Decimal("0.3"), communities=[community], created_at=NOW))
        inbox_id = f"inbox-{community}"
        connection.execute(owner_replies.insert().values(
            id=f"reply-{community}", provider_message_id=f"SM-{community}", channel="sms",
            owner_id=owner_of(connection, case_id), case_id=case_id, body="能开发票吗?", intent="question",
            received_at=NOW))
        connection.execute(staff_inbox.insert().values(
            id=inbox_id, reply_id=f"reply-{community}", community=community, owner_id=owner_of(connection, case_id),
            case_id=case_id, channel="sms", question="能开发票吗?", language="zh-CN", status="open", received_at=NOW))
    return {"community_id": community, "case_id": case_id, "issue_id": issue_id, "group_id": group_id,
            "campaign_id": campaign_id, "task_id": task_id, "inbox_id": inbox_id,
            "staff_id": staff["collector"], "manager_id": staff["manager"], "staff_ids": sorted(staff.values()),
            "staff": staff, "service": "notifier", "message_id": MISSING}


def owner_of(connection, case_id: str) -> str:
    return connection.execute(select(cases.c.owner_id).where(cases.c.id == case_id)).scalar_one()


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Both communities, seeded once; each test works on its own copy."""
    folder = tmp_path_factory.mktemp("authorization")
    engine = make_engine(migrated_database(folder, "cases"))
    world = {community: seed(engine, community) for community in (OURS, THEIRS)}
    engine.dispose()
    return folder / "cases.sqlite", world


@pytest.fixture
def world(template):
    return template[1]


@pytest.fixture
def app(template, tmp_path, monkeypatch):
    source, destination = sqlite3.connect(template[0]), sqlite3.connect(tmp_path / "cases.sqlite")
    with destination:
        source.backup(destination)
    source.close()
    destination.close()
    set_environment(monkeypatch, CASES_DATABASE_URL=f"sqlite:///{tmp_path / 'cases.sqlite'}",
                    DATA_DIR=str(tmp_path), SECRET_KEY="cases-secret",
                    CASES_REPORT_RECIPIENTS="*=manager@example.com")
    with root_logging_kept():
        app = create_app({"CASES_NOW": lambda: NOW})
    yield app
    app.extensions["cases.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def staff_of(app, world, community: str, role: str) -> dict:
    token = issue_token(app.config["SECRET_KEY"], world[community]["staff"][role], role, (community,))
    return {"Authorization": f"Bearer {token}"}


def everything(app) -> dict:
    """Every row of every table: what a refused request must leave as it was."""
    with app.extensions["cases.db"].connect() as connection:
        return {table.name: sorted(map(repr, connection.execute(select(table)).all()))
                for table in metadata.sorted_tables}


def assert_error_shape(response, status: int) -> None:
    assert response.status_code == status, response.get_json()
    assert set(response.get_json()) == {"code", "status", "message", "errors"}


@pytest.mark.parametrize("probe", ACROSS_COMMUNITIES)
def test_another_communitys_data_is_out_of_reach_and_only_its_own_staff_get_it(app, client, world, probe):
    before = everything(app)

    refused = probe.send(client, world[THEIRS], staff_of(app, world, OURS, probe.role))

    assert_error_shape(refused, probe.refused)
    assert everything(app) == before
    if probe.hides:
        missing = probe.send(client, {**world[THEIRS], probe.hides: MISSING}, staff_of(app, world, OURS, probe.role))
        assert refused.get_json() == missing.get_json()
    allowed = probe.send(client, world[THEIRS], staff_of(app, world, THEIRS, probe.role))
    assert allowed.status_code == probe.allowed, allowed.get_json()


@pytest.mark.parametrize("probe", BEYOND_THE_ROLE)
def test_a_role_may_not_go_beyond_what_it_is_allowed_in_its_own_community(app, client, world, probe):
    before = everything(app)

    refused = probe.send(client, world[OURS], staff_of(app, world, OURS, probe.role))

    assert_error_shape(refused, probe.refused)
    assert everything(app) == before
    admin = {"Authorization": f"Bearer {issue_token(app.config['SECRET_KEY'], 'admin-1', 'admin')}"}
    assert probe.send(client, world[OURS], admin).status_code == probe.allowed


@pytest.mark.parametrize("listing", LISTS)
@pytest.mark.parametrize("role", ROLES)
def test_a_list_shows_only_the_callers_communities(app, client, world, listing, role):
    response = client.get(listing.path, headers=staff_of(app, world, OURS, role))

    assert response.status_code == 200
    mine, theirs = world[OURS][listing.mine], world[THEIRS][listing.mine]
    assert listing.ids_of(response.get_json()) == (mine if isinstance(mine, list) else [mine])
    assert not set(listing.ids_of(response.get_json())) & set(theirs if isinstance(theirs, list) else [theirs])


@pytest.mark.parametrize("path", LISTS_FILTERED_TO_THEIRS)
def test_filtering_a_list_by_another_community_finds_nothing(app, client, world, path):
    response = client.get(path, query_string={"community": THEIRS}, headers=staff_of(app, world, OURS, "manager"))

    assert response.status_code == 200
    assert response.get_json()["items"] == [] and response.get_json()["total"] == 0


def test_a_managers_sweep_covers_only_their_communities(client, app, world):
    response = client.post("/api/v1/sweep", headers=staff_of(app, world, OURS, "manager"))

    assert response.status_code == 200 and response.get_json()["communities"] == [OURS]


def test_a_staff_member_seen_from_one_community_shows_only_that_communitys_membership(app, client, world):
    both = world[THEIRS]["staff_id"]
    with app.extensions["cases.db"].begin() as connection:
        people.update_staff(connection, both, communities=(OURS, THEIRS))

    seen = client.get(f"/api/v1/staff/{both}", headers=staff_of(app, world, OURS, "collector"))

    assert seen.status_code == 200 and seen.get_json()["communities"] == [OURS]


@pytest.mark.parametrize("method, path", sorted(COVERED))
def test_every_staff_endpoint_needs_a_token(client, method, path):
    response = client.open(path.replace("{", "").replace("}", ""), method=method, json={})

    assert_error_shape(response, 401)


def test_every_endpoint_in_the_api_document_has_a_row_here(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}

    untested = sorted(operations - COVERED - PUBLIC)
    assert untested == [], f"add a row to tests/unit/test_authorization.py for each of {untested}"

"""Letters on paper: a letter stage's notice is rendered into the print queue, not sent to a provider;
payments, promises and closed cases cancel it before it is printed; staff list, download, mark it
printed and posted (idempotent, 409 on an illegal move), and posting tells cases (message.sent)."""
from __future__ import annotations

import io
import uuid
import zipfile
from datetime import date, timedelta

import pytest
from pypdf import PdfReader
from sqlalchemy import select

from services.notifier.app import create_app
from services.notifier.letters import LetterShelf
from services.notifier.tables import outbox, print_queue, send_ledger
from shared.auth import issue_token
from shared.envelope import decode
from tests.unit.sqlite_services import root_logging_kept, set_environment
from tests.unit.test_cancellation import closed, payment, promised
from tests.unit.test_governor import COMMUNITY, at, phone_of, worlds

DAY = date(2025, 3, 12)
SECRET = "print-secret"


@pytest.fixture
def world(tmp_path):
    with worlds(tmp_path) as build:
        yield build(at(DAY, "06:00"))


@pytest.fixture
def api(world, tmp_path, monkeypatch):
    set_environment(monkeypatch, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    with root_logging_kept():
        app = create_app({"DATABASE_URL": world.engine.url.render_as_string(hide_password=False)})
    yield app.test_client()
    app.extensions["notifier.db"].dispose()


def staff(community: str = COMMUNITY, role: str = "collector", sub: str = "clerk-1") -> dict:
    return {"Authorization": f"Bearer {issue_token(SECRET, sub, role, [community])}"}


def ask_letter(world, owner: str = "owner-1", template: str = "notice", channels=("letter",),
               email: str | None = "x@example.com", name: str = "王芳") -> str:
    notification_id = str(uuid.uuid4())
    world.deliver("reminder.requested", {
        "notification_id": notification_id, "case_id": f"case-{owner}", "community": COMMUNITY,
        "stage": template, "slot": 0, "send_on": DAY, "channels": list(channels), "template": template,
        "recipient": {"owner_id": owner, "name": name, "phone": phone_of(owner), "email": email,
                      "locale": "zh-CN"},
        "context": {"amount_owed": "2860.00", "community": COMMUNITY, "unit": "3栋1201"},
    })
    return notification_id


def queued(world, **where) -> list[dict]:
    query = select(print_queue).order_by(print_queue.c.requested_at)
    for name, value in where.items():
        query = query.where(print_queue.c[name] == value)
    with world.engine.connect() as connection:
        return [dict(r) for r in connection.execute(query).mappings()]


def events(world, type_: str) -> list:
    with world.engine.connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [e for e in map(decode, bodies) if e.type == type_]


def pdf_text(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


# --- into the queue ---------------------------------------------------------------------------

def test_a_letter_is_rendered_into_the_print_queue_and_no_provider_is_called(world, tmp_path):
    notification_id = ask_letter(world)
    world.run_until(at(DAY, "23:00"))

    [row] = queued(world)
    assert (row["notification_id"], row["status"], row["template"], row["file_name"]) == \
        (notification_id, "waiting", "notice", "催费函.pdf")
    pdf = LetterShelf(tmp_path).path_for(COMMUNITY, notification_id).read_bytes()
    assert "王芳" in pdf_text(pdf) and "2860.00" in pdf_text(pdf)
    assert world.twilio.requests == [] and world.sendgrid.requests == []


def test_an_owner_without_email_gets_a_letter_stages_notice_on_paper_even_when_only_sms_was_asked(world):
    ask_letter(world, channels=("sms",), email=None)

    assert [r["status"] for r in queued(world)] == ["waiting"]


def test_a_stage_without_a_letter_puts_nothing_in_the_queue(world):
    ask_letter(world, template="reminder", channels=("letter", "sms"), email=None)

    assert queued(world) == []


def test_the_same_request_delivered_twice_queues_one_letter(world):
    notification_id = ask_letter(world)
    event = world.deliver("reminder.requested", {
        "notification_id": notification_id, "case_id": "case-owner-1", "community": COMMUNITY, "stage": "notice",
        "channels": ["letter"], "template": "notice",
        "recipient": {"owner_id": "owner-1", "name": "王芳", "locale": "zh-CN"}})

    assert event.type == "reminder.requested" and len(queued(world)) == 1


@pytest.mark.parametrize(("event", "reason"), [
    (payment(), "payment recorded"),
    (closed(), "case closed (paid)"),
    (promised(), "promise to pay by 2025-03-19"),
], ids=["payment", "case-closed", "promise"])
def test_a_payment_promise_or_closed_case_cancels_a_letter_not_yet_printed_but_not_a_printed_one(
        world, api, event, reason):
    printed = ask_letter(world)
    waiting = ask_letter(world)
    assert api.post(f"/api/v1/letters/{printed}/printed", headers=staff()).status_code == 200

    world.now += timedelta(minutes=5)
    world.deliver(*event)

    assert (queued(world, notification_id=waiting)[0]["status"], queued(world, notification_id=waiting)[0]["reason"]) \
        == ("cancelled", reason)
    assert queued(world, notification_id=printed)[0]["status"] == "printed"


def test_a_letter_asked_for_before_a_payment_but_arriving_after_it_is_cancelled_on_arrival(world, tmp_path):
    world.deliver(*payment())
    world.now -= timedelta(minutes=1)  # cases asked for the letter a minute before the payment
    notification_id = ask_letter(world)

    [row] = queued(world)
    assert (row["status"], row["reason"]) == ("cancelled", "payment recorded")
    assert not LetterShelf(tmp_path).path_for(COMMUNITY, notification_id).exists()


# --- the staff API ----------------------------------------------------------------------------

def test_staff_list_the_communitys_queue_by_state_with_counts(world, api):
    first = ask_letter(world)
    world.now += timedelta(minutes=1)
    second = ask_letter(world, owner="owner-2")
    api.post(f"/api/v1/letters/{first}/printed", headers=staff())

    everything = api.get(f"/api/v1/print-queue/{COMMUNITY}", headers=staff())
    waiting = api.get(f"/api/v1/print-queue/{COMMUNITY}", query_string={"status": "waiting"}, headers=staff())

    assert everything.status_code == 200
    assert everything.json["counts"] == {"waiting": 1, "printed": 1, "posted": 0, "cancelled": 0}
    assert [i["notification_id"] for i in waiting.json["items"]] == [second]
    assert api.get(f"/api/v1/print-queue/{COMMUNITY}", query_string={"status": "lost"},
                   headers=staff()).status_code == 422


def test_one_letter_and_a_batch_download_as_pdf_and_zip(world, api):
    first = ask_letter(world, name="李雷")
    world.now += timedelta(minutes=1)
    second = ask_letter(world, owner="owner-2", name="韩梅梅")

    one = api.get(f"/api/v1/letters/{first}/pdf", headers=staff())
    batch = api.get(f"/api/v1/print-queue/{COMMUNITY}/batch", headers=staff())

    assert one.status_code == 200 and one.mimetype == "application/pdf" and "李雷" in pdf_text(one.data)
    assert batch.status_code == 200 and batch.mimetype == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(batch.data))
    assert archive.namelist() == [f"001-{first}.pdf", f"002-{second}.pdf"]
    assert "韩梅梅" in pdf_text(archive.read(f"002-{second}.pdf"))
    chosen = api.get(f"/api/v1/print-queue/{COMMUNITY}/batch", query_string={"ids": [second]}, headers=staff())
    assert zipfile.ZipFile(io.BytesIO(chosen.data)).namelist() == [f"001-{second}.pdf"]
    assert api.get(f"/api/v1/print-queue/{COMMUNITY}/batch", query_string={"status": "posted"},
                   headers=staff()).status_code == 422


def test_marking_printed_twice_changes_it_once(world, api):
    notification_id = ask_letter(world)

    first = api.post(f"/api/v1/letters/{notification_id}/printed", headers=staff(sub="clerk-1"))
    again = api.post(f"/api/v1/letters/{notification_id}/printed", headers=staff(sub="clerk-2"))

    assert first.status_code == again.status_code == 200
    assert first.json["status"] == "printed" and first.json["printed_by"] == "clerk-1"
    assert again.json == first.json


def test_posting_records_the_evidence_and_tells_cases_once(world, api):
    notification_id = ask_letter(world)
    body = {"tracking_number": "XA123456789CN", "posted_on": str(DAY)}

    posted = api.post(f"/api/v1/letters/{notification_id}/posted", json=body, headers=staff(sub="clerk-9"))
    again = api.post(f"/api/v1/letters/{notification_id}/posted", json=body, headers=staff())
    other = api.post(f"/api/v1/letters/{notification_id}/posted", json={**body, "tracking_number": "XA999"},
                     headers=staff())

    assert posted.status_code == again.status_code == 200
    assert (posted.json["status"], posted.json["tracking_number"], posted.json["posted_on"], posted.json["posted_by"]) \
        == ("posted", "XA123456789CN", str(DAY), "clerk-9")
    assert posted.json["printed_at"] is not None  # posting implies it was printed
    assert other.status_code == 409 and set(other.json) == {"code", "status", "message", "errors"}
    [sent] = events(world, "message.sent")
    assert sent.payload["channel"] == "letter" and sent.payload["provider"] == "post"
    assert sent.payload["provider_message_id"] == "XA123456789CN"
    assert str(sent.payload["notification_id"]) == notification_id and sent.payload["case_id"] == "case-owner-1"


def test_a_posted_letter_is_in_the_send_ledger_with_its_tracking_number(world, api):
    notification_id = ask_letter(world)

    api.post(f"/api/v1/letters/{notification_id}/posted",
             json={"tracking_number": "XA123456789CN", "posted_on": str(DAY)}, headers=staff())

    with world.engine.connect() as connection:
        [entry] = connection.execute(select(send_ledger).where(send_ledger.c.notification_id == notification_id)
                                     ).mappings().all()
    assert (entry["channel"], entry["status"], entry["provider"], entry["provider_message_id"]) == \
        ("letter", "sent", "post", "XA123456789CN")


def test_a_print_run_is_marked_printed_all_at_once_and_again_changes_nothing(world, api):
    first, second = ask_letter(world), ask_letter(world)
    run = {"letters": [first, second]}

    marked = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed", json=run, headers=staff())
    again = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed", json=run, headers=staff())

    assert (marked.status_code, marked.json["marked"]) == (200, 2)
    assert (again.status_code, again.json["marked"]) == (200, 0)
    assert {r["status"] for r in queued(world)} == {"printed"}


def test_a_print_run_with_a_cancelled_or_unknown_letter_marks_none(world, api):
    waiting = ask_letter(world)
    cancelled = ask_letter(world, owner="owner-2")
    world.now += timedelta(minutes=1)
    world.deliver(*payment(owner="owner-2"))

    with_cancelled = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed",
                              json={"letters": [waiting, cancelled]}, headers=staff())
    with_unknown = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed",
                            json={"letters": [waiting, "no-such-letter"]}, headers=staff())
    elsewhere = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed", json={"letters": [waiting]},
                         headers=staff(community="river-view"))
    empty = api.post(f"/api/v1/print-queue/{COMMUNITY}/printed", json={"letters": []}, headers=staff())

    assert with_cancelled.status_code == 409 and with_unknown.status_code == 422
    assert with_unknown.json["errors"] == {"letters": ["no-such-letter"]}
    assert elsewhere.status_code == 404 and empty.status_code == 422
    assert queued(world, notification_id=waiting)[0]["status"] == "waiting"


def test_a_cancelled_letter_cannot_be_printed_or_posted(world, api):
    notification_id = ask_letter(world)
    world.now += timedelta(minutes=1)
    world.deliver(*payment())

    printed = api.post(f"/api/v1/letters/{notification_id}/printed", headers=staff())
    posted = api.post(f"/api/v1/letters/{notification_id}/posted",
                      json={"tracking_number": "XA123456789CN", "posted_on": str(DAY)}, headers=staff())

    assert printed.status_code == posted.status_code == 409
    assert "cancelled" in posted.json["message"]
    assert queued(world)[0]["status"] == "cancelled" and events(world, "message.sent") == []


def test_a_posted_letter_cannot_go_back_to_printed(world, api):
    notification_id = ask_letter(world)
    api.post(f"/api/v1/letters/{notification_id}/posted",
             json={"tracking_number": "XA123456789CN", "posted_on": str(DAY)}, headers=staff())

    assert api.post(f"/api/v1/letters/{notification_id}/printed", headers=staff()).status_code == 409


@pytest.mark.parametrize("body, field", [
    ({"posted_on": str(DAY)}, "tracking_number"),
    ({"tracking_number": "XA1<script>", "posted_on": str(DAY)}, "tracking_number"),
    ({"tracking_number": "XA123456789CN", "posted_on": "yesterday"}, "posted_on"),
    ({"tracking_number": "XA123456789CN", "posted_on": str(date.today() + timedelta(days=30))}, "posted_on"),
    ({"tracking_number": "XA123456789CN", "posted_on": "0001-01-01"}, "posted_on"),
    ({"tracking_number": "XA123456789CN", "posted_on": str(DAY), "by": "me"}, "by"),
], ids=["no-tracking-number", "bad-tracking-number", "bad-date", "future-date", "year-one", "unknown-field"])
def test_a_bad_posting_is_refused_with_the_field_named_and_nothing_changes(world, api, body, field):
    notification_id = ask_letter(world)

    response = api.post(f"/api/v1/letters/{notification_id}/posted", json=body, headers=staff())

    assert response.status_code == 422 and field in response.json["errors"]
    assert set(response.json) == {"code", "status", "message", "errors"}
    assert queued(world)[0]["status"] == "waiting" and events(world, "message.sent") == []


def test_another_communitys_letters_look_like_letters_that_do_not_exist(world, api):
    notification_id = ask_letter(world)
    outsider = staff(community="river-view")

    for method, path in [("GET", f"/api/v1/letters/{notification_id}/pdf"),
                         ("POST", f"/api/v1/letters/{notification_id}/printed"),
                         ("GET", f"/api/v1/print-queue/{COMMUNITY}"),
                         ("GET", f"/api/v1/print-queue/{COMMUNITY}/batch")]:
        assert api.open(path, method=method, headers=outsider).status_code == 404, path
    posting = {"tracking_number": "XA123456789CN", "posted_on": str(DAY)}
    assert api.post(f"/api/v1/letters/{notification_id}/posted", json=posting, headers=outsider).status_code == 404
    refused = api.post(f"/api/v1/letters/{notification_id}/printed", headers=outsider)
    missing = api.post("/api/v1/letters/no-such-letter/printed", headers=staff())
    assert refused.json == missing.json
    assert queued(world)[0]["status"] == "waiting"


def test_the_owners_outbox_shows_letters_with_their_state(world, api):
    posted, waiting = ask_letter(world), ask_letter(world)
    api.post(f"/api/v1/letters/{posted}/posted", json={"tracking_number": "XA123456789CN", "posted_on": str(DAY)},
             headers=staff())

    shown = api.get("/api/v1/owners/owner-1/outbox", headers=staff()).json
    letters = {i["notification_id"]: i for i in shown["items"] if i["channel"] == "letter"}

    assert letters[posted]["status"] == "posted" and letters[posted]["provider_message_id"] == "XA123456789CN"
    assert letters[waiting]["status"] == "waiting"
    assert shown["counts"]["posted"] == 1 and shown["counts"]["waiting"] == 1


# --- every documented endpoint needs a staff token --------------------------------------------

DOCUMENTED = {
    ("GET", "/api/v1/print-queue/{community}"),
    ("GET", "/api/v1/print-queue/{community}/batch"),
    ("GET", "/api/v1/letters/{notification_id}/pdf"),
    ("POST", "/api/v1/letters/{notification_id}/printed"),
    ("POST", "/api/v1/letters/{notification_id}/posted"),
    ("POST", "/api/v1/print-queue/{community}/printed"),
}


def test_every_endpoint_in_the_notifiers_api_document_is_listed_here_and_needs_a_token(api):
    spec = api.get("/api/v1/openapi.json").json
    operations = {(method.upper(), path) for path, item in spec["paths"].items()
                  for method in item if method != "parameters"}

    assert operations == DOCUMENTED
    for method, path in sorted(operations):
        response = api.open(path.replace("{", "").replace("}", ""), method=method, json={})
        assert response.status_code == 401 and set(response.json) == {"code", "status", "message", "errors"}

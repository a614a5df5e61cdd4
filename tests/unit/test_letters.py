"""Letters for the formal stages: a PDF in the owner's language, kept and attached to the email."""
from __future__ import annotations

import base64
import io
import time
import uuid
from datetime import date

import pytest
from pypdf import PdfReader

from services.notifier.letters import Letter, LetterShelf, render_letter
from services.notifier.providers import SendGridEmail
from services.notifier.sending import ReminderSender
from shared.config import Settings
from shared.db import make_engine
from shared.reply_address import read_reply_address
from shared.reply_form import make_reply_form_link, make_reply_form_token, read_reply_form_token
from tests.fakes.sendgrid_server import FakeSendGrid
from tests.unit.sqlite_services import migrated_database

SECRET = "letters-secret"


def text_of(pdf: bytes) -> str:
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.mark.parametrize("template, locale, title", [
    ("notice", "zh-CN", "催费函"),
    ("lawyer_letter", "zh-CN", "律师函"),
    ("follow_up_letter", "zh-CN", "律师函后函"),
    ("notice", "en", "Formal Notice"),
    ("lawyer_letter", "en", "Lawyer's Letter"),
    ("follow_up_letter", "en", "Follow-up"),
])
def test_a_letter_names_the_owner_in_chinese_with_the_amount_unit_and_date(template, locale, title):
    pdf = render_letter(Letter(template, locale, "欧阳<晓明>", "2860.00", date(2026, 12, 1), "lakeside", "3栋1201"))

    text = text_of(pdf)
    assert len(PdfReader(io.BytesIO(pdf)).pages) == 1
    assert b"/STSong-Light" in pdf  # the built-in CID font: no font file needed
    assert "欧阳<晓明>" in text and "2860.00" in text and "3栋1201" in text and title in text
    assert ("2026年12月1日" if locale == "zh-CN" else "1 December 2026") in text


def test_the_follow_up_letter_carries_the_owners_personal_reply_form_link():
    link = make_reply_form_link(SECRET, "https://gw.example.com", "owner-1", "case-1")

    text = text_of(render_letter(Letter("follow_up_letter", "zh-CN", "王芳", "1.00", date(2026, 12, 1),
                                        reply_link=link))).replace("\n", "")

    assert link in text
    assert read_reply_form_token(SECRET, link.rsplit("/r/", 1)[1]) == ("owner-1", "case-1")


@pytest.mark.parametrize("secret, max_age, wait", [
    ("another-secret", 60, 0),  # not ours
    (SECRET, -1, 0),  # expired (older than allowed)
])
def test_a_reply_form_token_that_is_not_ours_or_has_expired_reads_as_nothing(secret, max_age, wait):
    token = make_reply_form_token(SECRET, "owner-1", "case-1")
    time.sleep(wait)

    assert read_reply_form_token(secret, token, max_age=max_age) is None


@pytest.mark.parametrize("community, kept_in", [("lakeside", "lakeside"), ("../etc", "_etc"), (None, "_unknown")])
def test_letters_are_kept_per_community_and_a_community_name_cannot_leave_the_folder(tmp_path, community, kept_in):
    path = LetterShelf(tmp_path).keep(community, "n-1", b"%PDF-1.4")

    assert path == tmp_path / "letters" / kept_in / "n-1.pdf" and path.read_bytes() == b"%PDF-1.4"


@pytest.fixture
def sendgrid():
    with FakeSendGrid() as fake:
        yield fake


@pytest.fixture
def sender(tmp_path, sendgrid):
    engine = make_engine(migrated_database(tmp_path, "notifier"))
    settings = Settings.from_env({
        "DATA_DIR": str(tmp_path), "EMAIL_PROVIDER": "sendgrid", "SENDGRID_API_HOST": sendgrid.url,
        "SENDGRID_API_KEY": sendgrid.api_key, "SECRET_KEY": SECRET, "REPLY_DOMAIN": "reply.example.com",
        "PROVIDER_TIMEOUT_SECONDS": "2",
    })
    yield ReminderSender(engine, None, SendGridEmail(settings), "https://gw.example.com", settings)
    engine.dispose()


def request_for(template: str, name: str = "王芳", locale: str = "zh-CN") -> dict:
    return {"notification_id": str(uuid.uuid4()), "case_id": "case-1", "community": "lakeside",
            "stage": template, "channels": ["email", "letter"], "template": template,
            "recipient": {"owner_id": "owner-1", "name": name, "phone": None, "email": "wang.fang@example.com",
                          "locale": locale},
            "context": {"amount_owed": "2860.00", "community": "lakeside"}}


def test_a_letter_stage_email_carries_reply_to_html_text_and_the_pdf_which_is_kept(sender, sendgrid, tmp_path):
    request = request_for("follow_up_letter")

    sender.send(request)

    (mail,) = sendgrid.requests
    notification_id = request["notification_id"]
    assert mail["custom_args"] == {"notification_id": notification_id}
    route = read_reply_address(SECRET, mail["reply_to"]["email"])
    assert (route.owner_id, route.notification_id) == ("owner-1", notification_id)
    assert mail["reply_to"]["email"].endswith("@reply.example.com")
    parts = {block["type"]: block["value"] for block in mail["content"]}
    assert "王芳" in parts["text/plain"] and "王芳" in parts["text/html"] and "<p>" in parts["text/html"]
    (attachment,) = mail["attachments"]
    assert (attachment["type"], attachment["filename"], attachment["disposition"]) == (
        "application/pdf", "律师函后函.pdf", "attachment")
    pdf = base64.b64decode(attachment["content"])
    assert "王芳" in text_of(pdf) and "https://gw.example.com/r/" in text_of(pdf).replace("\n", "")
    assert (tmp_path / "letters" / "lakeside" / f"{notification_id}.pdf").read_bytes() == pdf


def test_a_reminder_email_has_no_letter_and_escapes_a_malicious_name_in_html(sender, sendgrid, tmp_path):
    sender.send(request_for("reminder", name='<img src=x onerror="alert(1)">', locale="en"))

    (mail,) = sendgrid.requests
    parts = {block["type"]: block["value"] for block in mail["content"]}
    assert "<img" not in parts["text/html"] and "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in parts["text/html"]
    assert '<img src=x onerror="alert(1)">' in parts["text/plain"]
    assert "attachments" not in mail and not (tmp_path / "letters").exists()

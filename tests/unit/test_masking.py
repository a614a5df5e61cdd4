"""Personal data never reaches a JSON log line; the correlation id always does."""
from __future__ import annotations

import io
import json
import logging
from contextlib import redirect_stderr

import pytest
from sqlalchemy import Column, MetaData, String, Table, insert

from shared.db import make_engine
from shared.logs import bind_correlation_id, configure_logging, reset_correlation_id
from tests.unit.sqlite_services import root_logging_kept

E164_PHONE = "+8613800138001"
BARE_PHONE = "13800138001"
SPACED_PHONE = "+86 138 0013 8002"
EMAIL = "wang.fang@example.com"
NAME = "王芳"
BODY = "这个月手头紧，我下周五交"


def logged(emit) -> tuple[str, dict]:
    """Run `emit(logger)` under the services' logging setup; return the one line and its JSON."""
    stream = io.StringIO()
    with root_logging_kept(), redirect_stderr(stream):
        configure_logging("cases")
        emit(logging.getLogger("tests.masking"))
    [line] = stream.getvalue().splitlines()
    return line, json.loads(line)


def assert_absent(line: str, *values: str) -> None:
    leaked = [value for value in values if value in line]
    assert not leaked, f"{leaked} leaked into {line}"


@pytest.mark.parametrize("value", [E164_PHONE, BARE_PHONE, SPACED_PHONE, EMAIL])
def test_phones_and_emails_in_the_message_text_are_masked(value):
    line, entry = logged(lambda log: log.info("reminder for %s queued", value))

    assert_absent(line, value)
    assert entry["message"].startswith("reminder for ") and entry["message"].endswith(" queued")


def test_personal_extra_fields_are_masked_and_the_rest_kept():
    line, entry = logged(lambda log: log.info("reply filed", extra={
        "phone": E164_PHONE, "email": EMAIL, "owner_name": NAME, "body": BODY,
        "sender": BARE_PHONE, "case_id": "case-7",
    }))

    assert_absent(line, E164_PHONE, BARE_PHONE, EMAIL, NAME, BODY)
    assert entry["case_id"] == "case-7"
    assert entry["body"] == f"<{len(BODY)} chars>" and entry["owner_name"] == f"<{len(NAME)} chars>"


def test_personal_fields_nested_in_dicts_and_lists_are_masked():
    payload = {
        "case_id": "case-7",
        "recipient": {"owner_id": "o-1", "name": NAME, "phone": E164_PHONE, "email": EMAIL},
        "owners": [{"name": NAME, "phone": BARE_PHONE}],
        "context": {"note": f"call {SPACED_PHONE} or write to {EMAIL}", "community": "lakeside"},
    }

    line, entry = logged(lambda log: log.info("reminder requested", extra={"payload": payload}))

    assert_absent(line, E164_PHONE, BARE_PHONE, SPACED_PHONE, EMAIL, NAME)
    assert entry["payload"]["case_id"] == "case-7"
    assert entry["payload"]["context"]["community"] == "lakeside"


def test_personal_data_in_exception_text_is_masked():
    def emit(log):
        try:
            raise ValueError(f"provider refused {E164_PHONE} and {EMAIL}")
        except ValueError:
            log.exception("send failed")

    line, entry = logged(emit)

    assert_absent(line, E164_PHONE, EMAIL)
    assert "ValueError: provider refused" in entry["exception"]


def test_the_bound_correlation_id_is_on_the_line():
    def emit(log):
        token = bind_correlation_id("corr-4f2a")
        try:
            log.warning("handler failed; retrying later")
        finally:
            reset_correlation_id(token)

    _, entry = logged(emit)

    assert entry["correlation_id"] == "corr-4f2a"
    assert (entry["level"], entry["service"], entry["logger"]) == ("warning", "cases", "tests.masking")


def test_a_line_logged_after_the_correlation_id_is_reset_has_none():
    token = bind_correlation_id("corr-old")
    reset_correlation_id(token)

    _, entry = logged(lambda log: log.info("idle"))

    assert entry["correlation_id"] is None


@pytest.mark.parametrize("template", ["业主回复：请打我电话%s", "%s是我的新号码", "王芳%s，下周五交"])
def test_a_phone_written_straight_into_chinese_text_is_masked(template):
    line, _ = logged(lambda log: log.info(template, BARE_PHONE))

    assert_absent(line, BARE_PHONE)


def test_twilio_form_fields_with_capitalised_names_are_masked():
    form = {"MessageSid": "SM" + "a" * 32, "From": E164_PHONE, "Body": BODY}

    line, _ = logged(lambda log: log.info("inbound sms", extra={"form": form}))

    assert_absent(line, E164_PHONE, BODY)


def test_a_database_error_does_not_put_the_row_it_was_writing_in_the_log(tmp_path):
    replies = Table("replies", MetaData(), Column("id", String, primary_key=True), Column("body", String))
    engine = make_engine(f"sqlite:///{tmp_path / 'replies.sqlite'}")
    replies.metadata.create_all(engine)

    def emit(log):
        try:
            with engine.begin() as connection:
                connection.execute(insert(replies).values(id="r-1", body=BODY))
                connection.execute(insert(replies).values(id="r-1", body=f"{NAME}: {BODY}"))
        except Exception as exc:
            log.exception("could not file reply", extra={"error": f"{type(exc).__name__}: {exc}"})

    try:
        line, entry = logged(emit)
    finally:
        engine.dispose()

    assert "IntegrityError" in entry["exception"]
    assert_absent(line, NAME, BODY)

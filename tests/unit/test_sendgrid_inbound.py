"""SendGrid Inbound Parse at the gateway: an owner's email reply becomes one owner.replied, read for intent."""
from __future__ import annotations

import json
import secrets
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select, text

from services.gateway.app import MAX_WEBHOOK_BYTES, create_app
from services.gateway.sendgrid.form import FIELD_LIMIT
from services.gateway.sendgrid.reply_text import html_text, new_text
from services.gateway.tables import outbox, webhook_receipts
from shared.config import ConfigError
from shared.envelope import decode
from shared.reply_address import ReplyRoute, reply_address
from tests.unit.sqlite_services import migrated_database, root_logging_kept, row_count, set_environment

SECRET_KEY = "gateway-test-secret-key"
INBOUND_SECRET = "inbound-" + secrets.token_urlsafe(16)
INBOUND = f"/webhooks/sendgrid/inbound?key={INBOUND_SECRET}"
REPLY_DOMAIN = "reply.example.com"
ROUTE = ReplyRoute("owner-1", "6a1f9a0e-3c55-4c8e-9f39-0d9c1f2b7a10")
TOKENISED = reply_address(SECRET_KEY, REPLY_DOMAIN, ROUTE)
# Friday 2026-01-02 09:00 in Shanghai: "下周五" is 2026-01-09.
RECEIVED = datetime(2026, 1, 2, 1, 0, tzinfo=UTC)


@pytest.fixture
def app(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET_KEY,
                    SENDGRID_INBOUND_SECRET=INBOUND_SECRET, REPLY_DOMAIN=REPLY_DOMAIN)
    with root_logging_kept():
        app = create_app({"GATEWAY_NOW": lambda: RECEIVED})
    yield app
    app.extensions["gateway.db"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


def multipart(fields: dict[str, str | bytes], files: dict[str, bytes] | None = None) -> tuple[bytes, str]:
    """A multipart/form-data body as SendGrid sends it: each field's bytes as given, no charset header."""
    boundary = "xYzZY" + secrets.token_hex(8)
    parts = []
    for name, value in fields.items():
        raw = value if isinstance(value, bytes) else value.encode()
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + raw)
    for name, content in (files or {}).items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="photo.jpg"\r\n'
                     f"Content-Type: image/jpeg\r\n\r\n".encode() + content)
    return b"\r\n".join(parts) + f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


def email_reply(body: str | bytes = "我下周五交", charset: str = "UTF-8", to: str = f'"物业服务中心" <{TOKENISED}>',
                message_id: str | None = None, extra_headers: str = "", **fields) -> dict[str, str | bytes]:
    message_id = message_id if message_id is not None else f"<{secrets.token_hex(8)}@mail.example.com>"
    headers = (f"Received: by mx.sendgrid.net\nFrom: Zhang San <Zhang.San@Example.com>\nTo: {to}\n"
               + (f"Message-ID: {message_id}\n" if message_id else "")
               + f"Subject: Re: 物业费缴费提醒\n{extra_headers}")
    return {
        "headers": headers, "dkim": "{@example.com : pass}", "to": to,
        "from": "Zhang San <Zhang.San@Example.com>", "text": body, "sender_ip": "203.0.113.9",
        "envelope": json.dumps({"to": [TOKENISED], "from": "zhang.san@example.com"}),
        "attachments": "0", "subject": "Re: 物业费缴费提醒",
        "charsets": json.dumps({"to": "UTF-8", "html": "UTF-8", "subject": "UTF-8", "from": "UTF-8",
                                "text": charset}),
        "SPF": "pass", **fields,
    }


def post(client, fields: dict, files: dict | None = None, path: str = INBOUND, **kwargs):
    body, content_type = multipart(fields, files)
    return client.post(path, data=body, content_type=content_type, **kwargs)


def outbox_events(app):
    with app.extensions["gateway.db"].connect() as connection:
        bodies = connection.execute(select(outbox.c.body).order_by(outbox.c.seq)).scalars().all()
    return [decode(body) for body in bodies]


def assert_error_shape(response, status: int) -> dict:
    assert response.status_code == status
    body = response.get_json()
    assert set(body) == {"code", "status", "message", "errors"} and body["code"] == status
    return body


def nothing_stored(app) -> bool:
    return row_count(app.extensions["gateway.db"], outbox) == 0


def test_an_email_reply_to_our_reply_address_becomes_an_owner_reply_read_for_intent(app, client):
    fields = email_reply("我下周五交\n\n在 2026年1月2日 09:00，物业服务中心 <" + TOKENISED + "> 写道：\n> 请缴纳物业费\n",
                         message_id="<reply-1@mail.example.com>")

    response = post(client, fields)

    assert response.status_code == 200
    [event] = outbox_events(app)
    assert event.type == "owner.replied"
    assert event.payload == {
        "channel": "email", "sender": "zhang.san@example.com", "recipient": TOKENISED, "body": "我下周五交",
        "provider_message_id": "<reply-1@mail.example.com>", "received_at": RECEIVED,
        "intent": "promise_to_pay", "promised_date": date(2026, 1, 9), "amount": None, "category": None,
        "language": "zh-CN", "faq_entry_id": None,
    }


def test_basic_auth_with_the_secret_as_password_is_accepted(app, client):
    response = post(client, email_reply(), path="/webhooks/sendgrid/inbound", auth=("sendgrid", INBOUND_SECRET))

    assert response.status_code == 200
    assert row_count(app.extensions["gateway.db"], outbox) == 1


@pytest.mark.parametrize("path, auth", [
    ("/webhooks/sendgrid/inbound", None),
    ("/webhooks/sendgrid/inbound?key=", None),
    ("/webhooks/sendgrid/inbound?key=wrong", None),
    (f"/webhooks/sendgrid/inbound?key={INBOUND_SECRET}x", None),
    (f"/webhooks/sendgrid/inbound?secret={INBOUND_SECRET}", None),
    ("/webhooks/sendgrid/inbound?key=%E4%BD%A0%E5%A5%BD", None),
    ("/webhooks/sendgrid/inbound", ("sendgrid", "wrong")),
    ("/webhooks/sendgrid/inbound", (INBOUND_SECRET, "")),
], ids=["nothing", "empty-key", "wrong-key", "longer-key", "other-parameter", "non-ascii-key",
        "wrong-password", "secret-as-username"])
def test_a_post_without_the_secret_is_refused_with_403_and_nothing_stored(app, client, path, auth):
    assert_error_shape(post(client, email_reply(), path=path, auth=auth), 403)
    assert nothing_stored(app)


def test_in_production_the_gateway_will_not_start_on_the_development_secret(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, APP_ENV="production", GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path),
                    BROKER_URL="amqp://fees@rabbit/fees", GATEWAY_PUBLIC_URL="https://gw.example.com",
                    TWILIO_AUTH_TOKEN="token", SECRET_KEY=SECRET_KEY, SENDGRID_WEBHOOK_PUBLIC_KEY="key")
    with root_logging_kept(), pytest.raises(ConfigError) as refused:
        create_app()

    assert "SENDGRID_INBOUND_SECRET" in str(refused.value)


@pytest.mark.parametrize("charset, words", [
    ("GBK", "这个月手头紧，我下周五交"),
    ("gb2312", "我下周五交"),
    ("GB2312", "我下周五交，麻烦把滘字念对"),  # 滘 is outside GB2312: clients write GBK under that label
    ("GB18030", "我下周五交"),
    ("BIG5", "我下週五交"),
    ("UTF-8", "我下周五交"),
    ("iso-8859-1", "Café: I will pay next Friday"),
], ids=["gbk", "gb2312", "gb2312-label-gbk-bytes", "gb18030", "big5", "utf-8", "latin-1"])
def test_the_reply_text_is_decoded_in_the_charset_sendgrid_declares(app, client, charset, words):
    encoding = {"GB2312": "gbk", "iso-8859-1": "latin-1"}.get(charset, charset)

    assert post(client, email_reply(words.encode(encoding), charset=charset)).status_code == 200

    [event] = outbox_events(app)
    assert event.payload["body"] == words


@pytest.mark.parametrize("charsets", ["not json", '["GBK"]', '{"text": "no-such-charset"}', '{"text": "base64"}'],
                         ids=["not-json", "not-an-object", "unknown-charset", "not-a-text-charset"])
def test_an_unreadable_charsets_field_falls_back_to_utf8_rather_than_losing_the_email(app, client, charsets):
    assert post(client, email_reply("我下周五交", charsets=charsets)).status_code == 200

    [event] = outbox_events(app)
    assert event.payload["body"] == "我下周五交"


def test_a_reply_without_a_reply_token_is_still_accepted_for_cases_to_match_by_sender(app, client):
    fields = email_reply(to="物业服务中心 <service@reply.example.com>",
                         envelope=json.dumps({"to": ["service@reply.example.com"], "from": "zhang.san@example.com"}))

    assert post(client, fields).status_code == 200

    [event] = outbox_events(app)
    assert (event.payload["sender"], event.payload["recipient"]) == ("zhang.san@example.com",
                                                                     "service@reply.example.com")


def test_a_tampered_reply_token_counts_as_no_token(app, client):
    tampered = TOKENISED.replace("reply+", "reply+x")
    fields = email_reply(to=tampered, envelope=json.dumps({"to": [tampered], "from": "zhang.san@example.com"}))

    assert post(client, fields).status_code == 200

    [event] = outbox_events(app)
    assert event.payload["recipient"] == tampered  # the first address written to, not a route


def test_the_reply_token_is_found_in_the_envelope_when_the_to_header_lost_it(app, client):
    fields = email_reply(to="undisclosed-recipients:;")

    assert post(client, fields).status_code == 200

    [event] = outbox_events(app)
    assert event.payload["recipient"] == TOKENISED


def test_the_reply_token_is_found_among_several_recipients(app, client):
    fields = email_reply(to=f"neighbour@example.com, 物业 <{TOKENISED}>",
                         envelope=json.dumps({"to": ["neighbour@example.com"], "from": "zhang.san@example.com"}))

    assert post(client, fields).status_code == 200
    assert outbox_events(app)[0].payload["recipient"] == TOKENISED


def test_the_same_email_posted_twice_becomes_one_event(app, client):
    fields = email_reply(message_id="<same@mail.example.com>")

    first, second = post(client, fields), post(client, fields)

    assert (first.status_code, second.status_code) == (200, 200)
    assert row_count(app.extensions["gateway.db"], outbox) == 1
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 1


def test_two_emails_with_the_same_words_are_two_replies(app, client):
    post(client, email_reply("明天交"))
    post(client, email_reply("明天交"))

    assert row_count(app.extensions["gateway.db"], outbox) == 2


def test_without_a_message_id_a_repost_is_recognised_by_its_content(app, client):
    fields = email_reply("明天交", message_id="")

    post(client, fields)
    post(client, fields)

    [event] = outbox_events(app)
    assert event.payload["provider_message_id"].startswith("sha256:")


def test_a_message_id_too_long_to_store_travels_as_its_hash(app, client):
    long_id = f"<{'a' * 200}@mail.example.com>"

    post(client, email_reply(message_id=long_id))
    post(client, email_reply(message_id=long_id))

    [event] = outbox_events(app)
    assert event.payload["provider_message_id"].startswith("sha256:")
    assert len(event.payload["provider_message_id"]) <= 128


def test_the_body_is_cut_to_ten_thousand_characters(app, client):
    assert post(client, email_reply("交" * 12_000)).status_code == 200

    assert len(outbox_events(app)[0].payload["body"]) == 10_000


def test_an_html_only_reply_is_read_without_its_quoted_history(app, client):
    html = (f'<div dir="ltr">明天交<br></div><div class="gmail_quote"><div class="gmail_attr">物业服务中心 &lt;'
            f'{TOKENISED}&gt; 于2026年1月2日周五 09:00写道：<br></div><blockquote>请缴纳物业费</blockquote></div>')

    assert post(client, email_reply("", html=html)).status_code == 200

    assert outbox_events(app)[0].payload["body"] == "明天交"


def test_an_opt_out_by_email_also_changes_the_suppression_list(app, client):
    assert post(client, email_reply("退订")).status_code == 200

    reply, changed, confirmation = outbox_events(app)
    assert reply.payload["intent"] == "opt_out"
    assert changed.type == "suppression.changed"
    assert changed.payload == {"channel": "email", "address": "zhang.san@example.com", "opted_out": True,
                               "source": "reply"}
    assert confirmation.type == "autoreply.requested" and confirmation.payload["kind"] == "opt_out_confirmed"


@pytest.mark.parametrize("extra_headers", [
    "Auto-Submitted: auto-replied\n",
    "Auto-Submitted: auto-generated\n",
    "X-Autoreply: yes\n",
    "Precedence: auto_reply\n",
    "Content-Type: multipart/report; report-type=delivery-status; boundary=x\n",
], ids=["auto-replied", "auto-generated", "x-autoreply", "precedence", "delivery-report"])
def test_an_automatic_reply_is_acknowledged_but_not_published(app, client, extra_headers):
    fields = email_reply("我休假到1月15日，期间不查看邮件。", extra_headers=extra_headers)

    assert post(client, fields).status_code == 200
    assert nothing_stored(app)


def test_an_email_with_an_attachment_larger_than_other_webhooks_may_be_is_accepted(app, client):
    photo = b"\xff\xd8\xff" + secrets.token_bytes(3 * MAX_WEBHOOK_BYTES)

    response = post(client, email_reply("楼道灯坏了，修好再交", attachments="1"), files={"attachment1": photo})

    assert response.status_code == 200
    assert outbox_events(app)[0].payload["body"] == "楼道灯坏了，修好再交"


def test_a_text_field_larger_than_the_kept_size_is_cut_not_refused(app, client):
    assert post(client, email_reply("明天交\n" + "> 引用\n" * (FIELD_LIMIT // 8))).status_code == 200

    assert outbox_events(app)[0].payload["body"] == "明天交"


def test_an_oversized_post_is_refused_with_413_and_nothing_stored(app, client):
    app.config["SENDGRID_INBOUND_MAX_CONTENT_LENGTH"] = 100_000

    response = post(client, email_reply(), files={"attachment1": secrets.token_bytes(100_001)})

    assert_error_shape(response, 413)
    assert nothing_stored(app)


def test_a_post_in_sendgrids_raw_mime_mode_is_read_too(app, client):
    raw = ("From: Zhang San <zhang.san@example.com>\r\nTo: " + TOKENISED + "\r\nSubject: Re: fees\r\n"
           "Message-ID: <raw-1@mail.example.com>\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=GBK\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode()
    raw += "我下周五交\r\n\r\n> 请缴纳物业费\r\n".encode("gbk")
    fields = {"email": raw, "to": TOKENISED, "from": "Zhang San <zhang.san@example.com>",
              "envelope": json.dumps({"to": [TOKENISED], "from": "zhang.san@example.com"}),
              "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8"})}

    assert post(client, fields).status_code == 200

    [event] = outbox_events(app)
    assert (event.payload["body"], event.payload["provider_message_id"]) == ("我下周五交", "<raw-1@mail.example.com>")


def broken_multipart(client, path: str = INBOUND):
    body, content_type = multipart(email_reply())
    return client.post(path, data=body[:-20], content_type=content_type)


@pytest.mark.parametrize("send", [
    pytest.param(lambda client: client.post(INBOUND, json={"from": "a@example.com", "text": "hi"}), id="json"),
    pytest.param(lambda client: client.post(INBOUND, data={"from": "a@example.com", "text": "hi"}),
                 id="urlencoded"),
    pytest.param(lambda client: client.post(INBOUND, data=b"--x\r\n", content_type="multipart/form-data"),
                 id="no-boundary"),
    pytest.param(lambda client: client.post(INBOUND, data=b"", content_type="multipart/form-data; boundary=x"),
                 id="empty"),
    pytest.param(broken_multipart, id="truncated"),
    pytest.param(lambda client: post(client, {**email_reply(), "from": "nobody", "envelope": "{}"}),
                 id="no-sender-address"),
    pytest.param(lambda client: post(client, {k: v for k, v in email_reply().items()
                                              if k not in ("from", "envelope")}), id="no-sender-at-all"),
])
def test_a_malformed_post_is_refused_with_400_and_nothing_stored(app, client, send):
    assert_error_shape(send(client), 400)
    assert nothing_stored(app)


def test_the_sender_falls_back_to_the_envelope_when_the_from_header_has_no_address(app, client):
    assert post(client, email_reply(**{"from": "Zhang San"})).status_code == 200

    assert outbox_events(app)[0].payload["sender"] == "zhang.san@example.com"


def test_an_email_that_cannot_be_stored_gets_503_so_sendgrid_retries(app, client):
    with app.extensions["gateway.db"].begin() as connection:
        connection.execute(text("DROP TABLE outbox"))

    assert_error_shape(post(client, email_reply()), 503)
    assert row_count(app.extensions["gateway.db"], webhook_receipts) == 0


@pytest.mark.parametrize("reply, owner_wrote", [
    ("我下周五交", "我下周五交"),
    ("我下周五交\n\n> 请缴纳物业费\n> 谢谢", "我下周五交"),
    ("明天交\n\nOn Fri, Jan 2, 2026 at 9:00 AM 物业服务中心 <reply+abc@reply.example.com> wrote:\n> Please pay",
     "明天交"),
    ("I'll pay Friday\n\nOn Fri, Jan 2, 2026 at 9:00 AM Property Services <\nreply+abc@reply.example.com> wrote:\n"
     "> Please pay", "I'll pay Friday"),
    ("我下周五交\n\n-----Original Message-----\nFrom: 物业服务中心\nSent: Friday, January 2, 2026 9:00 AM\n请缴费",
     "我下周五交"),
    ("我下周五交\n\n在 2026年1月2日 09:00，物业服务中心 <reply+abc@reply.example.com> 写道：\n> 请缴纳物业费",
     "我下周五交"),
    ("我下周五交\n\n物业服务中心 <reply+abc@reply.example.com> 于2026年1月2日周五 09:00写道：\n> 请缴纳物业费",
     "我下周五交"),
    ("我下周五交\n\n发件人: 物业服务中心 <billing@example.com>\n发送时间: 2026年1月2日 9:00\n收件人: 张三\n"
     "主题: 物业费缴费提醒\n\n请缴纳物业费", "我下周五交"),
    ("我下周五交\n\n------------------\xa0原始邮件\xa0------------------\n发件人: \"物业服务中心\"<billing@example.com>;\n"
     "发送时间: 2026年1月2日(星期五) 上午9:00\n请缴纳物业费", "我下周五交"),
    ("I'll pay Friday\n\n________________________________\nFrom: Property Services <billing@example.com>\n"
     "Sent: Friday, January 2, 2026 9:00 AM\nTo: Zhang San\nSubject: Fees due\n\nPlease pay", "I'll pay Friday"),
    ("我下周五交\n-- \n张三\n3栋2单元", "我下周五交"),
    ("On Fri, Jan 2, 2026 at 9:00 AM Property <reply+abc@reply.example.com> wrote:\n> Please pay\n\n"
     "I will pay on the 15th", "I will pay on the 15th"),
    ("> 请问这个月物业费交了吗？\n交了，上周五交的\n> 请提供凭证\n我晚上发给你", "交了，上周五交的\n我晚上发给你"),
    ("他在短信里写道：下周五交\n我同意", "他在短信里写道：下周五交\n我同意"),
    ("From now on please email me\nTo be clear, I will pay Friday", "From now on please email me\n"
     "To be clear, I will pay Friday"),
], ids=["no-history", "quoted-lines", "gmail-en", "gmail-en-wrapped", "outlook-original-message",
        "apple-zh", "gmail-zh", "outlook-zh-header-block", "qq-mail", "outlook-web-en", "signature",
        "bottom-posted", "inline-answers", "owner-quotes-someone", "owner-text-like-headers"])
def test_quoted_history_is_stripped_leaving_the_owners_new_words(reply, owner_wrote):
    assert new_text(reply) == owner_wrote


def test_html_text_keeps_line_breaks_and_drops_blockquotes_and_styles():
    html = ("<html><head><style>p{color:red}</style></head><body><p>明天交</p><p>谢谢&nbsp;物业</p>"
            "<blockquote>请缴纳物业费</blockquote></body></html>")

    assert new_text(html_text(html)) == "明天交\n\n谢谢\xa0物业"

"""Behind trusted proxies the reply form limits each client's address, not the proxy's; without
them, X-Forwarded-For is ignored so a sender cannot pick the address it is limited by."""
from __future__ import annotations

from datetime import timedelta

import pytest

from services.gateway.app import create_app
from services.gateway.config import trusted_proxies
from services.gateway.reply_form.attempts import Limit
from shared.config import ConfigError
from shared.reply_form import make_reply_form_token
from tests.unit.sqlite_services import migrated_database, root_logging_kept, set_environment

SECRET = "proxy-test-secret"
PROXY = {"REMOTE_ADDR": "10.0.0.2"}  # the load balancer every request arrives from


@pytest.fixture
def database(tmp_path, monkeypatch):
    url = migrated_database(tmp_path, "gateway")
    set_environment(monkeypatch, GATEWAY_DATABASE_URL=url, DATA_DIR=str(tmp_path), SECRET_KEY=SECRET)
    return url


def build_app(hops: int):
    with root_logging_kept():
        app = create_app({"REPLY_FORM_POSTS_PER_IP": Limit(2, timedelta(hours=1)), "TRUSTED_PROXIES": hops})
    return app


def post_from(client, client_address: str, case: str) -> int:
    path = f"/r/{make_reply_form_token(SECRET, 'owner-1', case)}"
    return client.post(path, data={"reason": "other"}, environ_base=PROXY,
                       headers={"X-Forwarded-For": client_address}).status_code


def test_behind_one_trusted_proxy_each_owner_is_limited_by_their_own_address(database):
    app = build_app(1)
    client = app.test_client()

    first_owner = [post_from(client, "198.51.100.7", f"case-{n}") for n in range(3)]
    second_owner = post_from(client, "203.0.113.9", "case-x")

    assert first_owner == [403, 403, 429]  # refused for the missing CSRF field, then limited
    assert second_owner == 403  # not limited by the first owner's attempts
    app.extensions["gateway.db"].dispose()


def test_without_trusted_proxies_a_forged_forwarded_address_does_not_escape_the_limit(database):
    app = build_app(0)
    client = app.test_client()

    statuses = [post_from(client, f"198.51.100.{n}", f"case-{n}") for n in range(3)]

    assert statuses == [403, 403, 429]
    app.extensions["gateway.db"].dispose()


@pytest.mark.parametrize("raw, hops", [("", 0), ("0", 0), ("2", 2)])
def test_the_number_of_trusted_proxies_is_read_from_the_environment(raw, hops):
    assert trusted_proxies({"GATEWAY_TRUSTED_PROXIES": raw}) == hops


@pytest.mark.parametrize("raw", ["one", "-1", "9"])
def test_a_nonsense_number_of_trusted_proxies_is_refused_at_start(raw):
    with pytest.raises(ConfigError, match="GATEWAY_TRUSTED_PROXIES"):
        trusted_proxies({"GATEWAY_TRUSTED_PROXIES": raw})

"""Tokenised Reply-To addresses lead an email reply back to its owner, and cannot be forged."""
from __future__ import annotations

import pytest

from shared.reply_address import ReplyRoute, read_reply_address, reply_address

ROUTE = ReplyRoute("owner-1", "0b1c2d3e-0000-4000-8000-000000000001")


def test_an_address_we_issued_reads_back_to_its_owner_and_notification():
    address = reply_address("secret", "reply.example.com", ROUTE)
    assert address.startswith("reply+") and address.endswith("@reply.example.com")
    assert read_reply_address("secret", f"Wang Fang <{address}>") == ROUTE


@pytest.mark.parametrize("address", [
    "billing@example.com",
    "reply+@reply.example.com",
    "reply+not-a-token@reply.example.com",
    "",
], ids=["ordinary", "empty-token", "garbage-token", "nothing"])
def test_an_address_we_did_not_issue_reads_as_nobody(address):
    assert read_reply_address("secret", address) is None


def test_a_token_signed_with_another_secret_reads_as_nobody():
    assert read_reply_address("other", reply_address("secret", "reply.example.com", ROUTE)) is None


def test_an_altered_token_reads_as_nobody():
    address = reply_address("secret", "reply.example.com", ROUTE)
    local, domain = address.split("@")
    tampered = local[:-1] + ("A" if local[-1] != "A" else "B") + "@" + domain
    assert read_reply_address("secret", tampered) is None

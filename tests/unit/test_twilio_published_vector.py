"""Our webhook check accepts Twilio's own published test vector (twilio-python's request-validator
test: auth token 12345, https://mycompany.com/myapp.php?foo=1&bar=2, five call parameters)."""
from __future__ import annotations

from flask import Flask

from services.gateway.signatures import public_url, twilio_signature_valid

TOKEN = "12345"
BASE = "https://mycompany.com"
PARAMS = {"CallSid": "CA1234567890ABCDE", "Digits": "1234", "From": "+14158675309", "To": "+18005551212",
          "Caller": "+14158675309"}
EXPECTED = "RSOYDt4T1cUTdK1PDd93/VVr8B8="


def check(params: dict, signature: str, path: str = "/myapp.php?foo=1&bar=2") -> bool:
    app = Flask(__name__)
    with app.test_request_context(path, method="POST", data=params, headers={"X-Twilio-Signature": signature}):
        from flask import request

        return twilio_signature_valid(TOKEN, BASE, request)


def test_the_url_checked_is_the_public_base_with_the_path_and_query_twilio_called():
    with Flask(__name__).test_request_context("/myapp.php?foo=1&bar=2", method="POST"):
        from flask import request

        assert public_url(BASE, request) == "https://mycompany.com/myapp.php?foo=1&bar=2"


def test_twilios_published_signature_is_accepted_behind_our_public_url():
    assert check(PARAMS, EXPECTED)


def test_the_same_signature_fails_for_a_changed_parameter_query_or_token():
    assert not check({**PARAMS, "Digits": "1235"}, EXPECTED)
    assert not check(PARAMS, EXPECTED, path="/myapp.php?foo=1&bar=3")
    assert not check({k: v for k, v in PARAMS.items() if k != "Caller"}, EXPECTED)
    assert not check(PARAMS, "")

"""The baseline for the gateway bench: a bare Flask handler answering Twilio with empty TwiML.

It checks nothing and stores nothing; run under the very gunicorn config the gateway uses.
"""
from __future__ import annotations

from flask import Flask, Response

app = Flask(__name__)
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'


@app.post("/webhooks/twilio/sms")
def inbound_sms() -> Response:
    return Response(EMPTY_TWIML, mimetype="application/xml")

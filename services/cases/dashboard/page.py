"""The dashboard page and its assets: served by cases itself, nothing fetched from elsewhere."""
from __future__ import annotations

from flask import Blueprint, render_template

blp = Blueprint("dashboard_page", __name__, url_prefix="/dashboard", template_folder="templates",
                static_folder="static", static_url_path="/static")
# Everything the page loads comes from this service: no CDN, and nothing inline to inject into.
POLICY = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'"


@blp.get("")
@blp.get("/")
def show():
    """The page; it signs in and reads its figures through the staff API like any client."""
    response = render_template("dashboard.html")
    return response, 200, {"Content-Security-Policy": POLICY, "Cache-Control": "no-store"}

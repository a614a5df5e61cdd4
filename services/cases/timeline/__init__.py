"""A case's timeline: everything that happened to it, in order, as evidence for a court.

Each kind of event is read from the table that records it. Some are known only by their day
(stage moves, payments, a promise's outcome); among the events of one day they come first, in
the order payment, promise outcome, stage move, and the events known to the second follow.
Delivery status is the latest one reported: the cases database keeps no status history.
"""
from services.cases.timeline.document import render_html
from services.cases.timeline.reading import case_timeline, staff_names
from services.cases.timeline.record import CaseRecord, Entry, plain

__all__ = ["CaseRecord", "Entry", "case_timeline", "plain", "render_html", "staff_names"]

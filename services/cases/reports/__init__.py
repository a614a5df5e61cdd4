"""Collection progress of one community: what was recovered and by whom, and what each stage converts.

Everything is read on the community's own calendar. The daily meeting relies on these words:

- A case's *opening day* is the day it entered its first stage. Its *closing day* is, for a case
  closed as paid, the day its last payment was paid (a payment file imported days later still
  counts on the day the owner paid); for any other closing, the local day it was closed.
- *In scope* on day D: cases opened by D that are open at the end of D or closed in the 30 days
  up to D (open plus recently closed).
- *Community recovery rate* on D, over the cases in scope: recovered / (owed + recovered), where
  recovered is their payments paid by D and owed is what they owe now plus what was paid on them
  after D. No history of arrears is kept, so arrears that fell due after D count as owed on D.
- A case is *held* on D by the staff member of its latest assignment that began before D ended and
  had not ended before D began. A payment counts for whoever held the case on the day it was paid.
- A collector's *portfolio* on D: the open cases in scope they hold on D, and the cases closed in
  the 30 days up to D that they held on the closing day (so a case paid in full stays to their credit).
- *Collector recovery rate* on D: payments counted for their portfolio and paid by D, divided by
  the portfolio's amount owed at assignment.
"""
from services.cases.reports.book import (
    RECENT_DAYS,
    Assignment,
    CaseFacts,
    CollectionBook,
    Collector,
    Community,
    Payment,
    ResolvedPromise,
    closing_day,
    find_community,
    load_book,
    load_case_facts,
    load_collectors,
)
from services.cases.reports.conversion import CONVERSION_DAYS, StageConversion, funnel
from services.cases.reports.figures import rate
from services.cases.reports.periodic import (
    BreachedDeadline,
    BrokenPromise,
    IssueCount,
    Period,
    PeriodicReport,
    Trend,
    breached_deadlines,
    broken_promises,
    issues_by_category,
    period_ending,
    periodic_report,
)
from services.cases.reports.progress import (
    CollectorDay,
    Progress,
    collector_progress,
    community_progress,
    portfolio,
)
from services.cases.reports.standings import Standing, at_bottom, ranking, ranks

__all__ = [
    "CONVERSION_DAYS", "RECENT_DAYS", "Assignment", "BreachedDeadline", "BrokenPromise", "CaseFacts",
    "CollectionBook", "Collector", "CollectorDay", "Community", "IssueCount", "Payment", "Period",
    "PeriodicReport", "Progress", "ResolvedPromise", "StageConversion", "Standing", "Trend", "at_bottom",
    "breached_deadlines", "broken_promises", "closing_day", "collector_progress", "community_progress",
    "find_community", "funnel", "issues_by_category", "load_book", "load_case_facts", "load_collectors",
    "period_ending", "periodic_report", "portfolio", "ranking", "ranks", "rate",
]

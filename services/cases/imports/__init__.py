"""Imports of the centre's data: the ledger (owners, units, fee periods) and payments.

Every row is read and checked before anything is written. Good rows are applied in one
transaction and bad ones are reported by line; with `all_or_nothing` a single bad row stops the
whole import, and a dry run applies everything and rolls it back, so its counts say what would
happen. A ledger is applied set-wise (a few queries per community, not per row) so 100,000 rows
import in one call; applying the same file twice changes nothing the second time.
"""
from services.cases.imports.checking import Community, LedgerRow, PaymentRow, RowChecker, known_communities
from services.cases.imports.columns import LEDGER, PAYMENTS
from services.cases.imports.ledger import apply_ledger
from services.cases.imports.payments import apply_payments
from services.cases.imports.reading import columns_of, csv_rows, json_rows
from services.cases.imports.report import BadRow, ImportRefused, ImportReport
from services.cases.imports.running import run_import

__all__ = [
    "LEDGER", "PAYMENTS", "BadRow", "Community", "ImportRefused", "ImportReport", "LedgerRow", "PaymentRow",
    "RowChecker", "apply_ledger", "apply_payments", "columns_of", "csv_rows", "json_rows", "known_communities",
    "run_import",
]

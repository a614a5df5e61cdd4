"""The FAQ, directory and staff-inbox migrations create exactly the tables the code declares."""
from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from services.cases import tables as cases_tables
from services.gateway import tables as gateway_tables
from shared.db import make_engine
from tests.unit.sqlite_services import migrated_database


def _table_of(diff) -> str | None:
    """The table a schema difference is about (alembic reports tables, columns and indexes differently)."""
    item = diff[0] if isinstance(diff, list) else diff
    for part in item[1:]:
        name = getattr(part, "name", None) if not isinstance(part, str) else part
        table = getattr(getattr(part, "table", None), "name", None)
        if table or name:
            return table or name
    return None


@pytest.mark.parametrize("service, metadata, ours", [
    ("gateway", gateway_tables.metadata, {"faq_entries", "address_directory", "community_timezones", "inbox"}),
    ("cases", cases_tables.metadata, {"staff_inbox"}),
])
def test_the_migrations_match_the_declared_tables(tmp_path, service, metadata, ours):
    engine = make_engine(migrated_database(tmp_path, service))
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
        present = set(engine.dialect.get_table_names(connection))
    engine.dispose()

    assert ours <= present
    assert [d for d in differences if _table_of(d) in ours] == []

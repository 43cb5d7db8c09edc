"""The state of a database as numbers a test can compare: per table, its row count and a
checksum of its rows (order-independent), and its shape (tables, columns and their types); and
the migration cycle that must keep them."""

import psycopg
from tally.migrations import DataLossRefused, Migration, migrate_to, status

# applied_at of a migration reverted and applied again is the time it was applied again
MOVING = ("ops.schema_migrations",)
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def _tables(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "select format('%%I.%%I', n.nspname, c.relname) from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace"
        " where c.relkind in ('r', 'p') and n.nspname <> all(%s)"
        " and n.nspname not like 'pg\\_temp\\_%%' order by 1",
        [list(SYSTEM_SCHEMAS)],
    ).fetchall()
    return [name for (name,) in rows]


def checksums(url: str, skip: tuple[str, ...] = ()) -> dict[str, tuple[int, str]]:
    """Every table of every schema but PostgreSQL's own: (rows, md5 of its sorted row md5s)."""
    with psycopg.connect(url, options="-c timezone=UTC") as conn:
        state = {}
        for table in _tables(conn):
            if table in skip:
                continue
            state[table] = conn.execute(
                f"select count(*), coalesce(md5(string_agg(h, '' order by h)), '')"
                f" from (select md5(t::text) as h from {table} as t) as rows"
            ).fetchone()
        return state


def shape(url: str) -> dict[str, list[tuple[str, str]]]:
    """Every table with its columns and their types, then its constraints and indexes."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select format('%%I.%%I', n.nspname, c.relname), a.attname,"
            " format_type(a.atttypid, a.atttypmod)"
            " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
            " join pg_attribute a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped"
            " where c.relkind in ('r', 'p') and n.nspname <> all(%s) order by 1, a.attnum",
            [list(SYSTEM_SCHEMAS)],
        ).fetchall()
        rules = conn.execute(
            "select format('%%I.%%I', n.nspname, c.relname), r.conname, pg_get_constraintdef(r.oid)"
            " from pg_constraint r join pg_class c on c.oid = r.conrelid"
            " join pg_namespace n on n.oid = c.relnamespace where n.nspname <> all(%s)"
            " union all select format('%%I.%%I', schemaname, tablename), indexname, indexdef"
            " from pg_indexes where schemaname <> all(%s) order by 1, 2, 3",
            [list(SYSTEM_SCHEMAS)] * 2,
        ).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, type_ in [*rows, *rules]:
        tables.setdefault(table, []).append((column, type_))
    return tables


def check_migration_cycle(url: str, migration: Migration) -> None:
    """Revert down to just below `migration` and apply everything again, on a populated
    database: every table of every schema has its rows, with the same checksum, but those a
    refusal named as lost (then asked for with allow_data_loss); the shape comes back whole."""
    rows_before, shape_before = checksums(url, MOVING), shape(url)
    assert rows_before["raw.events"][0] > 0 and rows_before["ops.pipeline_runs"][0] > 0
    lost: list[str] = []
    with psycopg.connect(url) as conn:
        try:
            migrate_to(conn, migration.version - 1)
        except DataLossRefused as refusal:
            lost = refusal.lost
            assert checksums(url, MOVING) == rows_before, "a refused migration changed data"
            steps = migrate_to(conn, migration.version - 1, allow_data_loss=True)
            assert migration in [s.migration for s in steps if s.direction == "down"]
        applied = [s.migration.version for s in status(conn) if s.applied_at]
        assert not any(v >= migration.version for v in applied)
        migrate_to(conn)
    assert differences(shape_before, shape(url)) == {}
    lost_tables = {
        item.split()[1].rsplit(".", 1)[0] if item.startswith("column") else item.split()[1]
        for item in lost
    }
    after = checksums(url, MOVING)
    kept = {t: v for t, v in rows_before.items() if t not in lost_tables}
    assert {t: after.get(t) for t in kept} == kept


def differences(before: dict, after: dict) -> dict:
    """Per table, what it had before and lacks after (-) and what it has that it lacked (+)."""
    return {
        table: {
            "-": [x for x in before.get(table, []) if x not in after.get(table, [])],
            "+": [x for x in after.get(table, []) if x not in before.get(table, [])],
        }
        for table in sorted(set(before) | set(after))
        if before.get(table) != after.get(table)
    }

"""Tenancy and access (docs/reference.md section 5, docs/access.md).

One data set of several organizations (hostile org ids among them: quotes and SQL, unicode,
10 kB) is loaded and rolled up; then,
for EVERY relation the catalog lists in analytics (so relations added later are covered too),
tally_tenant sees only its organization's rows, nothing with the setting unset, and tally_analyst
sees every row of analytics and nothing of the other schemas. The same holds after an
incremental rollup over late events and after `tally rollup --full-refresh`, including for
relations someone created in analytics by hand.
"""

import json
import os
from contextlib import contextmanager

import psycopg
import pytest
import yaml
from conftest import PROJECT_DIR, SCHEMAS, invoke_tally, query

ORGS = [
    "org_acme",
    "org_globex",
    "o'rg; drop table raw.events; --",
    "組織-ü-🙂",
    "big-" + "x" * 10_000,
]
CLOSED_SCHEMAS = [s for s in SCHEMAS if s != "analytics"]
SHARED = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["vars"][
    "tally_tenant_shared_relations"
]


def rollup(*args: str) -> None:
    """`tally rollup ARGS` in the tests' TALLY_HOME (os.environ read now: the fixtures set it).

    dbt's unit tests check the rollup logic on fixtures, not the database: they are other tests'
    business, and skipping them keeps these rollups shorter.
    """
    invoke_tally("rollup", *args, env={**os.environ, "DBT_EXCLUDE_RESOURCE_TYPES": "unit_test"})


def email(org_index: int, user: int) -> str:
    return f"Person.{org_index}.{user}@Example-{org_index}.test"


def write_data_set(folder, late: bool = False) -> None:
    """organizations, users (with emails), api_keys and events of every org in ORGS."""
    folder.mkdir(exist_ok=True)
    rows = {"organizations": [], "users": [], "api_keys": [], "events": []}
    zones = ["Asia/Kolkata", "America/New_York", "Asia/Kathmandu", None, "Pacific/Chatham"]
    for o, org in enumerate(ORGS):
        if not late:
            rows["organizations"].append(
                {
                    "org_id": org,
                    "name": f"Org {o}",
                    "timezone": zones[o],
                    "plan": "pro",
                    "created_at": "2025-01-01T00:00:00Z",
                }
            )
            for u in range(2):
                rows["users"].append(
                    {
                        "user_id": f"{org}/u{u}",
                        "org_id": org,
                        "email": email(o, u),
                        "created_at": "2025-01-02T00:00:00Z",
                    }
                )
                rows["api_keys"].append(
                    {
                        "api_key_id": f"{org}/k{u}",
                        "org_id": org,
                        "user_id": f"{org}/u{u}",
                        "key_prefix": f"sk-{o}{u}",
                        "created_at": "2025-01-02T00:00:00Z",
                        "revoked_at": None,
                    }
                )
        for e in range(12):
            day, hour = (5 + e % 3, e % 24) if not late else (3, 23)
            rows["events"].append(
                {
                    "event_id": f"{'late-' if late else ''}{o}-{e}",
                    "org_id": org,
                    "user_id": f"{org}/u{e % 2}",
                    "api_key_id": f"{org}/k{e % 2}",
                    "model_id": "gpt-4o",
                    "event_time": f"2026-01-{day:02d}T{hour:02d}:30:00Z",
                    "input_tokens": 100 + e,
                    "output_tokens": 10 * e,
                    "status": "success" if e % 5 else "error",
                    "latency_ms": 42,
                }
            )
    for kind, records in rows.items():
        if records:
            path = folder / f"{kind}{'_late' if late else ''}.jsonl"
            path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def relations(url: str, schemas) -> list[tuple[str, str, bool]]:
    """(qualified name, relkind, has org_id) of every table and view in the schemas."""
    return query(
        url,
        "select format('%%I.%%I', n.nspname, c.relname), c.relkind::text,"
        " exists (select from pg_attribute a where a.attrelid = c.oid and a.attname = 'org_id'"
        "         and a.attnum > 0 and not a.attisdropped)"
        " from pg_class c join pg_namespace n on n.oid = c.relnamespace"
        " where n.nspname = any(%s) and c.relkind in ('r', 'p', 'v', 'm', 'f') order by 1",
        [list(schemas)],
    )


@contextmanager
def session(url: str, role: str, org_id: str | None = None):
    """A connection acting as `role` (superuser, then SET ROLE, as the brief prescribes)."""
    with psycopg.connect(url, autocommit=True, options="-c timezone=UTC") as conn:
        conn.execute(psycopg.sql.SQL("set role {}").format(psycopg.sql.Identifier(role)))
        if org_id is not None:
            conn.execute("select set_config('tally.org_id', %s, false)", [org_id])
        yield conn


def assert_tenant_isolation(url: str) -> None:
    analytics = relations(url, ["analytics"])
    names = {name for name, _, _ in analytics}
    assert {"analytics.fct_usage_hourly"} <= names, names
    for org in ORGS:
        with session(url, "tally_tenant", org) as conn:
            for name, _, has_org_id in analytics:
                if has_org_id:
                    others = conn.execute(
                        f"select count(*) from {name} where org_id is distinct from %s", [org]
                    ).fetchone()[0]
                    assert others == 0, f"{org!r} sees {others} rows of other orgs in {name}"
                    mine = conn.execute(f"select count(*) from {name}").fetchone()[0]
                    [(expected,)] = query(
                        url, f"select count(*) from {name} where org_id = %s", [org]
                    )
                    assert mine == expected, f"{org!r} sees {mine} of its {expected} in {name}"
                else:
                    assert_no_rows_unless_shared(conn, name)
            [(hourly,)] = conn.execute("select count(*) from analytics.fct_usage_hourly").fetchall()
            assert hourly > 0, f"{org!r} should see its own hourly rows"
    for unset in (None, ""):
        with session(url, "tally_tenant", unset) as conn:
            for name, _, has_org_id in analytics:
                if has_org_id:
                    rows = conn.execute(f"select count(*) from {name}").fetchone()[0]
                    assert rows == 0, f"with tally.org_id {unset!r} a tenant sees {rows} in {name}"
                else:
                    assert_no_rows_unless_shared(conn, name)


def assert_no_rows_unless_shared(conn, name: str) -> None:
    """A relation without org_id: tenant-safe only by the explicit shared list (public data)."""
    if name.removeprefix("analytics.") in SHARED:
        return
    try:
        rows = conn.execute(f"select count(*) from {name}").fetchone()[0]
    except psycopg.errors.InsufficientPrivilege:
        return
    assert rows == 0, f"a tenant sees {rows} rows of {name}, which has no org_id"


def assert_analyst_access(url: str, emails: list[str]) -> None:
    with session(url, "tally_analyst") as conn:
        for name, _, _ in relations(url, ["analytics"]):
            seen = conn.execute(f"select count(*) from {name}").fetchone()[0]
            [(total,)] = query(url, f"select count(*) from {name}")
            assert seen == total, f"the analyst sees {seen} of {total} rows of {name}"
            text = "\n".join(
                row[0] for row in conn.execute(f"select t::text from {name} as t")
            ).lower()
            leaked = [e for e in emails if e.lower() in text]
            assert not leaked, f"{name} shows raw emails to the analyst: {leaked}"
        closed = relations(url, CLOSED_SCHEMAS)
        assert {"raw.events", "raw.users", "ops.pipeline_runs"} <= {n for n, _, _ in closed}
        for name, _, _ in closed:
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"select 1 from {name} limit 1")
    for role in ("tally_analyst", "tally_tenant"):
        for schema in CLOSED_SCHEMAS:
            [(usable,)] = query(url, "select has_schema_privilege(%s, %s, 'usage')", [role, schema])
            exists = query(url, "select 1 from pg_namespace where nspname = %s", [schema])
            assert not (exists and usable), f"{role} may use schema {schema}"


@pytest.fixture(scope="module")
def built(db_url, tmp_path_factory):
    with psycopg.connect(db_url, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")
    folder = tmp_path_factory.mktemp("access-data")
    write_data_set(folder)
    invoke_tally("load", str(folder))
    rollup()
    return db_url, folder


def test_roles_exist_without_login(built):
    url, _ = built
    rows = query(
        url,
        "select rolname, rolcanlogin, rolsuper, rolbypassrls from pg_roles"
        " where rolname like 'tally\\_%' order by 1",
    )
    assert rows == [("tally_analyst", False, False, False), ("tally_tenant", False, False, False)]


def test_every_org_id_table_has_row_level_security(built):
    url, _ = built
    for name, kind, _ in relations(url, ["analytics"]):
        if kind == "v":
            [(invoker,)] = query(
                url,
                "select coalesce('security_invoker=true' = any(reloptions), false)"
                " from pg_class where oid = %s::regclass",
                [name],
            )
            assert invoker, f"view {name} must be security_invoker"
        elif kind in ("r", "p"):
            [(rls,)] = query(
                url, "select relrowsecurity from pg_class where oid = %s::regclass", [name]
            )
            assert rls, f"{name} has no row-level security"


def test_tenants_see_only_their_org_through_rebuilds(built):
    url, folder = built
    emails = [email(o, u) for o in range(len(ORGS)) for u in range(2)]
    assert_tenant_isolation(url)
    assert_analyst_access(url, emails)

    # Relations someone adds to analytics by hand are secured by the next build too, and stray
    # grants on the closed schemas are taken back.
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create table analytics.zz_by_hand as"
            " select org_id, count(*) as n from raw.events group by 1"
        )
        conn.execute("create table analytics.zz_no_org as select 'secret'::text as x")
        conn.execute(
            "create view analytics.zz_by_hand_view as select * from analytics.fct_usage_hourly"
        )
        conn.execute(
            "grant select on analytics.zz_by_hand, analytics.zz_no_org, analytics.zz_by_hand_view"
            " to tally_tenant"
        )
        # Stray grants on closed schemas, as a hurried administrator might leave them.
        conn.execute("grant usage on schema raw, ops to public")
        conn.execute("grant select on raw.events, raw.users to tally_analyst")
        conn.execute("grant usage on schema staging to tally_tenant")

    # Late events for every org, then an incremental rollup.
    write_data_set(folder, late=True)
    invoke_tally("load", str(folder / "events_late.jsonl"))
    rollup()
    assert_tenant_isolation(url)
    assert_analyst_access(url, emails)

    rollup("--full-refresh")
    assert_tenant_isolation(url)
    assert_analyst_access(url, emails)
    [(late,)] = query(url, "select sum(request_count) from analytics.fct_usage_hourly")
    assert late == 24 * len(ORGS)


def test_a_login_role_member_of_tally_tenant(built):
    """How a tenant connects for real: its own login role, a member of tally_tenant."""
    url, _ = built
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("drop role if exists tally_test_tenant_login")
        conn.execute("create role tally_test_tenant_login login in role tally_tenant")
    login_url = url.replace("postgres@", "tally_test_tenant_login@", 1)
    try:
        with psycopg.connect(login_url, autocommit=True) as conn:
            assert conn.execute("select count(*) from analytics.fct_usage_hourly").fetchone() == (
                0,
            )
            conn.execute("select set_config('tally.org_id', %s, false)", [ORGS[2]])
            orgs = conn.execute("select distinct org_id from analytics.fct_usage_daily").fetchall()
            assert orgs == [(ORGS[2],)]
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute("select * from raw.events")
    finally:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("drop role tally_test_tenant_login")


def test_rollups_are_in_the_audit_ledger(built):
    url, _ = built
    rows = query(
        url,
        "select outcome, arguments, changes from ops.pipeline_runs where command = 'rollup'",
    )
    assert rows, "no rollup recorded in ops.pipeline_runs"
    outcome, arguments, changes = rows[0]
    assert outcome == "success" and arguments["target"] == "local"
    assert changes["dbt"]["rows_affected_by_model"]["fct_usage_hourly"] > 0


def test_every_analytics_model_is_secured_inside_its_own_transaction(built, tally_home):
    """The post-hook runs before the model's transaction commits, so no reader ever sees a
    rebuilt table before its row-level security; dbt's grants config names both roles."""
    manifest = json.loads((tally_home / "target" / "manifest.json").read_text())
    models = [
        node
        for node in manifest["nodes"].values()
        if node["resource_type"] == "model" and node["schema"] == "analytics"
    ]
    assert len(models) >= 2
    for node in models:
        hooks = [(h["sql"], h["transaction"]) for h in node["config"]["post-hook"]]
        assert ("{{ secure_relations(this.schema, this.identifier) }}", True) in hooks, node["name"]
        assert set(node["config"]["grants"]["select"]) == {"tally_analyst", "tally_tenant"}


def test_planner_statistics_stay_hidden_from_tenants(built):
    url, _ = built
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("analyze analytics.fct_usage_hourly")
    with session(url, "tally_tenant", ORGS[0]) as conn:
        rows = conn.execute("select count(*) from pg_stats where schemaname = 'analytics'")
        assert rows.fetchone() == (0,)


def test_a_view_made_by_hand_runs_as_invoker_at_once(built):
    """The event trigger (superuser builds): no build needed, no window for a tenant."""
    url, _ = built
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(
            "create or replace view analytics.fct_usage_daily as"
            " select * from analytics.fct_usage_daily_v2"
        )
        conn.execute("create view analytics.zz_instant as select * from analytics.fct_usage_hourly")
        conn.execute("grant select on analytics.zz_instant to tally_tenant")
    for view in ("analytics.fct_usage_daily", "analytics.zz_instant"):
        [(options,)] = query(
            url, "select reloptions from pg_class where oid = %s::regclass", [view]
        )
        assert options == ["security_invoker=true"], view
    assert_tenant_isolation(url)

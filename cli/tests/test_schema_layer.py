"""The schema layer (issue 4): sources, staging, core dims, prices, snapshots, analyses.

One pipeline per module, on a copy of the dbt project (the last test edits a price): reference
files and events go in through `tally load`, `tally rollup` runs dbt build; the tests then read
what it built. The snapshot test loads a second version of an organization, edits the price
list and rolls up again, so it runs last.
"""

import hashlib
import hmac
import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from conftest import PROJECT_DIR, query, run_tally
from rollup_harness import copy_project, reset_database

SAMPLE_EVENTS = PROJECT_DIR / "samples" / "events.jsonl"
DEVELOPMENT_PII_KEY = b"tally-development-key-not-secret"  # macros/schema/pii_hash_key.sql
EMAILS = ("Alice.Smith@Example.com", "bob@example.org", "carol+billing@initech.example")


def _jsonl(path: Path, records: list[dict]) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records), encoding="utf-8")
    return path


def _organizations(acme_timezone: str) -> list[dict]:
    return [
        {
            "org_id": "org_acme",
            "name": "Acme",
            "timezone": acme_timezone,
            "plan": "pro",
            "created_at": "2025-01-01T00:00:00Z",
        },
        {
            "org_id": "org_globex",
            "name": "Globex",
            "timezone": "America/New_York",
            "plan": "free",
            "created_at": "2025-02-01T00:00:00",
        },
        {
            "org_id": "org_initech",
            "name": "Initech",
            "timezone": "Asia/Kathmandu",
            "plan": "team",
            "created_at": "2025-03-01T05:45:00+05:45",
        },
    ]


@pytest.fixture(scope="module")
def built(db_url, tally_home, tmp_path_factory):
    """A database with organizations, users, API keys and events loaded, then rolled up."""
    reset_database(db_url)
    project = copy_project(tmp_path_factory.mktemp("schema_layer_project"))
    env = {**os.environ, "TALLY_PROJECT_DIR": str(project)}
    folder = tmp_path_factory.mktemp("schema_layer")
    _jsonl(folder / "organizations.jsonl", _organizations("Asia/Kolkata"))
    _jsonl(
        folder / "users.jsonl",
        [
            {
                "user_id": "u1",
                "org_id": "org_acme",
                "email": EMAILS[0],
                "created_at": "2025-01-02T00:00:00Z",
            },
            {
                "user_id": "u2",
                "org_id": "org_acme",
                "email": EMAILS[1],
                "created_at": "2025-01-03T00:00:00Z",
            },
            {
                "user_id": "u3",
                "org_id": "org_initech",
                "email": EMAILS[2],
                "created_at": "2025-03-02T00:00:00Z",
            },
        ],
    )
    _jsonl(
        folder / "api_keys.jsonl",
        [
            {
                "api_key_id": "k1",
                "org_id": "org_acme",
                "user_id": "u1",
                "key_prefix": "sk-ab12",
                "created_at": "2025-01-02T00:00:00Z",
                "revoked_at": None,
            },
            {
                "api_key_id": "k2",
                "org_id": "org_acme",
                "user_id": None,
                "key_prefix": "sk-cd34",
                "created_at": "2025-01-02T00:00:00Z",
                "revoked_at": "2025-06-01T00:00:00+02:00",
            },
            {
                "api_key_id": "k3",
                "org_id": "org_initech",
                "user_id": "u3",
                "key_prefix": "sk-ef56",
                "created_at": "2025-03-02T00:00:00Z",
                "revoked_at": "2999-01-01T00:00:00Z",
            },
        ],
    )
    # Three ways of writing 10:00 UTC: naive (means UTC), Z, and +05:45.
    _jsonl(
        folder / "events_time_forms.jsonl",
        [
            {
                "event_id": f"time_{name}",
                "org_id": "org_initech",
                "user_id": "u3",
                "api_key_id": "k3",
                "model_id": "gpt-4o",
                "event_time": moment,
                "input_tokens": 1000,
                "output_tokens": 100,
                "status": "success",
            }
            for name, moment in (
                ("naive", "2026-11-20T10:00:00"),
                ("zulu", "2026-11-20T10:00:00Z"),
                ("kathmandu", "2026-11-20T15:45:00+05:45"),
            )
        ],
    )
    run_tally("load", str(folder), str(SAMPLE_EVENTS), env=env)
    # Not checked here: a failure elsewhere in the project (test_build_... reports it) must not
    # hide what this layer built.
    rollup = run_tally("rollup", env=env, check=False)
    return {
        "url": db_url,
        "folder": folder,
        "home": tally_home,
        "project": project,
        "env": env,
        "rollup": rollup,
    }


def _artifact(home: Path, name: str) -> dict:
    return json.loads((home / "target" / name).read_text(encoding="utf-8"))


def test_build_runs_and_tests_every_model_seed_and_snapshot(built):
    rollup = built["rollup"]
    assert rollup.returncode == 0, rollup.stdout[-6000:] + rollup.stderr[-2000:]
    manifest = _artifact(built["home"], "manifest.json")
    results = {
        r["unique_id"]: r["status"] for r in _artifact(built["home"], "run_results.json")["results"]
    }
    nodes = {
        uid: node["resource_type"]
        for uid, node in manifest["nodes"].items()
        if node["resource_type"] in ("model", "seed", "snapshot", "test")
    }
    nodes.update({uid: "unit_test" for uid in manifest.get("unit_tests", {})})
    assert {"model", "seed", "snapshot", "test", "unit_test"} <= set(nodes.values())
    for required in (
        "seed.tally.model_prices",
        "snapshot.tally.snp_organizations",
        "snapshot.tally.snp_model_prices",
        "model.tally.dim_users",
        "model.tally.stg_reference__model_prices",
    ):
        assert required in nodes
    # `tally rollup` leaves out the unit tests, the tests that compare whole tables (tag
    # whole_table) and those of rules the database enforces (tag database_enforced); `tally
    # verify` runs them (dbt test, test_verify.py). On a first rollup every other node runs.
    verify_only = {"whole_table", "database_enforced"}
    left_out = {
        uid
        for uid, kind in nodes.items()
        if kind == "unit_test" or verify_only & set(manifest["nodes"].get(uid, {}).get("tags", []))
    }
    assert any(nodes[uid] == "test" for uid in left_out)
    assert sorted(uid for uid in nodes if uid not in results) == sorted(left_out)
    failed = {uid: status for uid, status in results.items() if status not in ("success", "pass")}
    assert failed == {}


def test_core_dims_have_enforced_primary_keys(built):
    rows = query(
        built["url"],
        """
        select conrelid::regclass::text, pg_get_constraintdef(oid)
        from pg_constraint
        where contype = 'p' and connamespace = 'analytics'::regnamespace
    """,
    )
    keys = dict(rows)
    assert keys["analytics.dim_organizations"] == "PRIMARY KEY (org_id)"
    assert keys["analytics.dim_users"] == "PRIMARY KEY (user_id)"
    assert keys["analytics.dim_api_keys"] == "PRIMARY KEY (api_key_id)"
    assert keys["analytics.dim_models"] == "PRIMARY KEY (model_id)"


def test_staging_keeps_the_instant_of_every_timestamp_form(built):
    """Naive means UTC, offsets mean their instant, whatever the session's time zone."""
    rows = query(
        built["url"],
        """
        select event_id, event_at
        from staging.stg_platform__events
        where event_id like 'time\\_%'
    """,
    )
    assert len(rows) == 3
    assert {at.isoformat() for _, at in rows} == {"2026-11-20T10:00:00+00:00"}
    [(created_at,)] = query(
        built["url"],
        "select created_at from analytics.dim_organizations where org_id = 'org_globex'",
    )
    assert created_at.isoformat() == "2025-02-01T00:00:00+00:00"


def test_staging_events_view_passes_filters_down_to_the_raw_indexes(built):
    """The view rescans nothing: a filter on the batch reaches raw.events' index."""
    with psycopg.connect(built["url"]) as conn:
        conn.execute("set enable_seqscan = off")
        plan = "\n".join(
            row[0]
            for row in conn.execute(
                "explain select * from staging.stg_platform__events where batch_id > 1000"
            )
        )
    assert "Index Cond: (batch_id > 1000)" in plan and "Seq Scan" not in plan, plan


def test_api_keys_activity_and_prices(built):
    active = dict(query(built["url"], "select api_key_id, is_active from analytics.dim_api_keys"))
    assert active == {"k1": True, "k2": False, "k3": True}
    [(price_in, price_out, provider)] = query(
        built["url"],
        "select input_usd_per_1m, output_usd_per_1m, provider from analytics.dim_models"
        " where model_id = 'gpt-4o'",
    )
    assert (str(price_in), str(price_out), provider) == ("2.50", "10.00", "openai")
    # Prices stay exact: 0.075 is not 0.07500000000000001.
    [(flash,)] = query(
        built["url"],
        "select input_usd_per_1m from staging.stg_reference__model_prices"
        " where model_id = 'gemini-1.5-flash' and effective_to is null and min_input_tokens = 0",
    )
    assert str(flash) == "0.075"


def test_no_raw_email_anywhere_in_analytics(built):
    columns = query(
        built["url"],
        """
        select c.table_name, c.column_name
        from information_schema.columns as c
        where c.table_schema = 'analytics'
          and c.data_type in ('text', 'character varying', 'character', 'json', 'jsonb',
                              'ARRAY', 'USER-DEFINED')
    """,
    )
    tables = {
        name
        for (name,) in query(
            built["url"],
            "select table_name from information_schema.tables where table_schema = 'analytics'",
        )
    }
    assert {"dim_users", "dim_organizations", "dim_api_keys", "dim_models"} <= tables
    needles = [email.lower() for email in EMAILS]
    found = []
    for table, column in columns:
        value = f'lower("{column}"::text)'
        hits = query(
            built["url"],
            f'select count(*) from analytics."{table}"'
            f" where {' or '.join(f'position(%s in {value}) > 0' for _ in needles)}",
            needles,
        )[0][0]
        if hits:
            found.append((table, column))
    assert found == []
    assert columns, "no text column scanned"


def test_email_hash_is_hmac_sha256_of_the_normalised_email(built):
    hashes = dict(query(built["url"], "select user_id, email_hash from analytics.dim_users"))
    expected = hmac.new(DEVELOPMENT_PII_KEY, EMAILS[0].lower().encode(), hashlib.sha256)
    assert hashes["u1"] == expected.hexdigest()
    assert len(set(hashes.values())) == 3


def test_every_model_and_column_is_described_in_the_database(built):
    """persist_docs: what analysts see in their SQL client, for every relation dbt builds."""
    manifest = _artifact(built["home"], "manifest.json")
    relations = sorted(
        f"{node['schema']}.{node['alias']}"
        for node in manifest["nodes"].values()
        if node["resource_type"] in ("model", "snapshot")
        and node["config"].get("materialized") != "ephemeral"
    )
    assert "analytics.dim_users" in relations
    missing = query(
        built["url"],
        """
        select c.oid::regclass::text
        from pg_class as c
        where c.oid = any(%(relations)s::regclass[])
          and obj_description(c.oid, 'pg_class') is null
        union all
        select c.oid::regclass::text || '.' || a.attname
        from pg_class as c
        join pg_attribute as a on a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped
        where c.oid = any(%(relations)s::regclass[])
          and col_description(c.oid, a.attnum) is null
    """,
        {"relations": relations},
    )
    assert [name for (name,) in missing] == []


def _run_dbt_commands(env: dict, *commands: list[str]) -> subprocess.CompletedProcess:
    script = (
        "import sys\n"
        "from tally.dbt_invocation import run_dbt\n"
        f"for args in {list(commands)!r}:\n"
        "    if not run_dbt('local', *args).success:\n"
        "        sys.exit(1)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, cwd=PROJECT_DIR, env=env
    )


def test_analyses_compile_and_run_and_docs_generate(built):
    result = _run_dbt_commands(
        built["env"], ["compile", "--select", "resource_type:analysis"], ["docs", "generate"]
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert (built["home"] / "target" / "catalog.json").exists()
    compiled = built["home"] / "target" / "compiled" / "tally" / "analyses"
    sql = {path.stem: path.read_text() for path in compiled.glob("*.sql")}
    assert set(sql) >= {
        "org_monthly_bill_by_model",
        "top_api_keys_last_week",
        "error_ratio_by_model_and_hour",
        "top_models_last_week",
    }
    for text in sql.values():
        assert "{{" not in text and "ref(" not in text
        query(built["url"], text)  # runs on the built tables
    bill = query(built["url"], sql["org_monthly_bill_by_model"])
    [(requests,)] = query(
        built["url"],
        """
        select sum(request_count) from analytics.fct_usage_daily
        where org_id = 'org_acme' and usage_date >= '2026-11-01' and usage_date < '2026-12-01'
    """,
    )
    assert sum(row[2] for row in bill) == requests > 0


def test_email_hash_key_comes_from_the_environment(built):
    """Any key, longer than SHA-256's block, with a quote and non-ASCII: still Python's HMAC."""
    key = "k\u00e9y's-secret-" * 8
    result = _run_dbt_commands(
        {**built["env"], "TALLY_PII_HASH_KEY": key}, ["run", "--select", "dim_users"]
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    [(email_hash,)] = query(
        built["url"], "select email_hash from analytics.dim_users where user_id = 'u1'"
    )
    expected = hmac.new(key.encode(), EMAILS[0].lower().encode(), hashlib.sha256).hexdigest()
    assert email_hash == expected


# The schema layer's SQL; `make lint` lints the whole project.
LINTED_PATHS = (
    "models/staging",
    "models/marts/core",
    "tests/staging",
    "analyses",
    "snapshots",
)


def test_sqlfluff_lint_is_clean(built):
    env = dict(os.environ)
    exports = subprocess.run(
        [sys.executable, "-m", "tally", "db", "env"],
        capture_output=True,
        text=True,
        check=True,
        cwd=PROJECT_DIR,
    ).stdout
    for line in exports.splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "sqlfluff"),
            "lint",
            *LINTED_PATHS,
            "--disable-progress-bar",
        ],
        capture_output=True,
        text=True,
        cwd=PROJECT_DIR,
        env=env,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]


def test_snapshots_keep_both_versions_while_the_dims_show_the_latest(built):
    # Second version: Acme moves to Nepal time; Globex and Initech reloaded unchanged.
    second = _jsonl(built["folder"] / "organizations_v2.jsonl", _organizations("Asia/Kathmandu"))
    run_tally("load", str(second), env=built["env"])
    # And the price list is edited in git: gpt-4o's current input price changes, gpt-4 goes.
    prices = built["project"] / "seeds" / "model_prices.csv"
    row, removed = "gpt-4o,openai,2024-10-02 00:00:00,2.50,10.00", "gpt-4,openai,"
    text = prices.read_text()
    assert row in text and removed in text
    text = text.replace(row, "gpt-4o,openai,2024-10-02 00:00:00,2.25,10.00")
    prices.write_text("".join(line for line in text.splitlines(True) if removed not in line))
    run_tally("rollup", env=built["env"], check=False)  # checked by test_build_...

    versions = query(
        built["url"],
        """
        select org_id, timezone, dbt_valid_from, dbt_valid_to
        from snapshots.snp_organizations
        order by org_id, dbt_valid_from
        """,
    )
    acme = [row for row in versions if row[0] == "org_acme"]
    assert [row[1] for row in acme] == ["Asia/Kolkata", "Asia/Kathmandu"]
    assert acme[0][3] == acme[1][2] and acme[1][3] is None
    # A reload of unchanged values is not a new version.
    assert [row[1] for row in versions if row[0] == "org_globex"] == ["America/New_York"]
    [(timezone,)] = query(
        built["url"], "select timezone from analytics.dim_organizations where org_id = 'org_acme'"
    )
    assert timezone == "Asia/Kathmandu"

    price_versions = query(
        built["url"],
        """
        select input_usd_per_1m::text, dbt_valid_to is null
        from snapshots.snp_model_prices
        where
            model_id = 'gpt-4o' and effective_from = '2024-10-02 00:00:00+00'
            and service_tier = 'standard'
        order by dbt_valid_from
        """,
    )
    assert price_versions == [("2.50", False), ("2.25", True)]
    [(price,)] = query(
        built["url"],
        "select input_usd_per_1m::text from analytics.dim_models where model_id = 'gpt-4o'",
    )
    assert price == "2.25"
    # Removed rows (gpt-4's standard and batch rows) are closed in the history, not forgotten.
    assert query(
        built["url"],
        "select dbt_valid_to is not null from snapshots.snp_model_prices where model_id = 'gpt-4'",
    ) == [(True,), (True,)]

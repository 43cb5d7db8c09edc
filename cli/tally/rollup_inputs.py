"""What a `tally rollup` can skip: the whole run when nothing it reads has changed since the
last successful rollup, else the seeds and snapshots whose input has not.

The whole run reads the project's code, the committed load batches, the schema migrations, the
personal-data hash key, the relations it built and the clock (dim_models' current price,
dim_api_keys' is_active). Its fingerprint covers all but the clock, whose next change (the first
price boundary or key revocation after the last rollup started) is recorded beside it; a rollup
that finds both unchanged and that instant still ahead has nothing to build and runs no dbt at
all.

Else each seed, snapshot, view and table (not the incremental models) has a fingerprint: the
project's code, the hash key, and but for a view the newest commit_seq of each raw table it reads
through its upstream nodes (from dbt's manifest.json of the last parse). It is recorded in
ops.rollup_inputs after a successful rollup; a node whose fingerprint matches, and whose relation
exists, is left out of the next `dbt build`, but for a model that reads the clock once the
clock's recorded next change has come. A full refresh builds everything.

So is a data test whose relations hold the same rows as when it last passed: each relation it
reads is such a node, or a view or raw table, whose rows are made of the same code and the same
raw tables' batches (a view's rows change with them too). A test of an incremental model or of
the ledger of batches runs every time, and so does a test of what reads the clock once the
clock has moved, and a test that did not pass (a warning is shown again until it is mended).

dbt writes its manifest.json (and the graph) twice per build, after parsing and at the end, whole
seconds of a small rollup. A rollup asks for it only when the manifest on disk was not written by
a rollup of the same code and target (a sidecar file records which), and writes run_results.json
itself otherwise.
"""

import hashlib
import json
import os
from datetime import datetime
from pathlib import Path

import psycopg

from tally import __version__

# ops.rollup_inputs rows of the whole run (besides one per seed and snapshot)
RUN = "run"
NEXT_CLOCK_CHANGE = "run_next_clock_change"
# The models that read the clock (dbt.current_timestamp()); a test keeps this list true.
CLOCK_DEPENDENT_MODELS = ("dim_api_keys", "dim_models")
_NEXT_CLOCK_CHANGE_SQL = """
select min(moment) from (
    select effective_from as moment from staging.stg_reference__model_prices
    union all select effective_to from staging.stg_reference__model_prices
    union all select revoked_at from staging.stg_platform__api_keys
) as moments
where moment > %s
"""
_BUILT_RELATIONS_SQL = """
select coalesce(string_agg(
    namespace.nspname || '.' || class.relname || ':' || class.relkind::text, ','
    order by namespace.nspname, class.relname
), '')
from pg_class as class
inner join pg_namespace as namespace on namespace.oid = class.relnamespace
where namespace.nspname in ('staging', 'intermediate', 'analytics', 'reference', 'snapshots')
    and class.relkind in ('r', 'v', 'p', 'm')
"""


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def code_digest(project: Path) -> str:
    """What every node is built from besides data: the project's files and the hash key. Read
    once per rollup: the whole run's fingerprint and each node's share it."""
    files = _files_digest(
        [
            path
            for folder in ("models", "macros", "seeds", "snapshots", "tests")
            for path in (project / folder).rglob("*")
            if path.is_file()
        ]
        + [project / "dbt_project.yml"]
    )
    key = hashlib.sha256(os.environ.get("TALLY_PII_HASH_KEY", "").encode()).hexdigest()
    return files + key


def run_inputs(conn: psycopg.Connection, code: str) -> str:
    """The fingerprint of what a rollup reads, but for the relations it builds (see
    run_fingerprint): taken before the run, so that a load committing during it is seen next
    time."""
    parts = [
        __version__,
        code,
        str(
            conn.execute(
                "select coalesce(max(commit_seq), 0) from raw.load_batches where status = 'loaded'"
            ).fetchone()[0]
        ),
        ",".join(
            str(v) for (v,) in conn.execute("select version from ops.schema_migrations order by 1")
        ),
    ]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def run_fingerprint(conn: psycopg.Connection, inputs: str) -> str:
    built = conn.execute(_BUILT_RELATIONS_SQL).fetchone()[0]
    return inputs + ":" + hashlib.sha256(built.encode()).hexdigest()


def nothing_to_build(conn: psycopg.Connection, inputs: str) -> datetime | None:
    """When the last successful rollup read exactly these inputs, its relations are all there and
    no clock-dependent row has changed since: when that rollup was recorded. Else None."""
    recorded = conn.execute(
        "select fingerprint, recorded_at from ops.rollup_inputs where node_name = %s", [RUN]
    ).fetchone()
    if recorded is None or recorded[0] != run_fingerprint(conn, inputs):
        return None
    if clock_moved(conn):
        return None
    return recorded[1]


def clock(conn: psycopg.Connection) -> datetime:
    """The database's clock, which the models' current_timestamp reads."""
    return conn.execute("select now()").fetchone()[0]


def clock_moved(conn: psycopg.Connection) -> bool:
    """Whether a model that reads the clock may now read it otherwise than when it was last
    built: no successful rollup recorded the clock's next change, or that instant has come."""
    row = conn.execute(
        "select fingerprint = '' or fingerprint::timestamptz > now() from ops.rollup_inputs"
        " where node_name = %s",
        [NEXT_CLOCK_CHANGE],
    ).fetchone()
    return row is None or not row[0]


def forget_run(conn: psycopg.Connection) -> None:
    """Before dbt runs: a run killed mid-way must leave the next one with work to do."""
    conn.execute("delete from ops.rollup_inputs where node_name = %s", [RUN])


def record_run(conn: psycopg.Connection, inputs: str, started_at: datetime) -> None:
    """After a successful rollup: what it read, and when a clock-dependent row changes next
    after the rollup started (a boundary passed while its models read the clock counts)."""
    next_change = conn.execute(_NEXT_CLOCK_CHANGE_SQL, [started_at]).fetchone()[0]
    record(
        conn,
        {
            RUN: run_fingerprint(conn, inputs),
            NEXT_CLOCK_CHANGE: next_change.isoformat() if next_change else "",
        },
    )


def _reads_clock(node: dict) -> bool:
    return "current_timestamp" in node.get("raw_code", "")


def _skippable_nodes(manifest: dict, clock_has_moved: bool) -> dict[str, dict]:
    """Seeds, snapshots, views and tables, by unique id, but those that read the clock once it
    has moved (incremental models always run: with nothing new they cost a lookup of their
    change set)."""
    nodes = manifest.get("nodes", {})
    return {
        unique_id: node
        for unique_id, node in nodes.items()
        if node["resource_type"] in ("seed", "snapshot", "model")
        and node["config"].get("materialized") in ("seed", "snapshot", "view", "table")
        and node.get("config", {}).get("enabled", True)
        and not (clock_has_moved and _reads_clock(node))
    }


def _raw_kinds(unique_id: str, nodes: dict[str, dict], memo: dict[str, set[str]]) -> set[str]:
    """The raw tables a node reads, through its upstream nodes: their new batches change it.
    The ledger of batches itself is not one (each kind's new batches are)."""
    if unique_id not in memo:
        found: set[str] = set()
        for parent in nodes.get(unique_id, {}).get("depends_on", {}).get("nodes", []):
            if parent.startswith("source.") and ".platform." in parent:
                found.add(parent.rsplit(".", 1)[1])
            elif parent in nodes:
                found |= _raw_kinds(parent, nodes, memo)
        memo[unique_id] = found - {"load_batches"}
    return memo[unique_id]


def read_manifest(manifest: Path) -> dict:
    """dbt's manifest.json of the last parse; empty when there is none."""
    return json.loads(manifest.read_bytes()) if manifest.exists() else {}


def latest_batches(conn: psycopg.Connection) -> dict[str, str]:
    """The newest committed batch of each kind of raw table: taken before the run, so that a
    load committing during it is seen next time."""
    return dict(
        conn.execute(
            "select kind, max(commit_seq)::text from raw.load_batches"
            " where status = 'loaded' group by kind"
        )
    )


def _fingerprint(code: str, kinds: list[str], latest: dict[str, str]) -> str:
    parts = [code, *(f"{kind}={latest.get(kind, '0')}" for kind in kinds)]
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def fingerprints(
    code: str, parsed: dict, latest: dict[str, str], clock_has_moved: bool = False
) -> dict[str, tuple]:
    """Every skippable node of the last parsed project (dbt's manifest): its name -> (its
    relation, its fingerprint). A node's input is the project's code and the hash key (as for the
    whole run) and the newest commit_seq of each raw table it reads. Empty without a manifest."""
    skippable = _skippable_nodes(parsed, clock_has_moved)
    every_node = {**parsed.get("nodes", {}), **parsed.get("sources", {})}
    memo: dict[str, set[str]] = {}
    found = {}
    for unique_id, node in skippable.items():
        # a view holds no rows: only its code changes it
        is_view = node["config"]["materialized"] == "view"
        kinds = [] if is_view else sorted(_raw_kinds(unique_id, every_node, memo))
        relation = f"{node['schema']}.{node['alias']}"
        found[node["name"]] = (relation, _fingerprint(code, kinds, latest))
    return found


_LEDGER = "load_batches"


def test_fingerprints(
    code: str, parsed: dict, latest: dict[str, str], clock_has_moved: bool = False
) -> dict[str, str | None]:
    """Every data test of the last parsed project: its name -> what the rows it reads are made
    of, or None when they may change with any run (see the module's docstring)."""
    skippable = _skippable_nodes(parsed, clock_has_moved)
    every_node = {**parsed.get("nodes", {}), **parsed.get("sources", {})}
    kinds_memo: dict[str, set[str]] = {}
    settled_memo: dict[str, bool] = {}

    def settled(unique_id: str) -> bool:
        """Its rows are made of code and raw tables' batches alone: a raw table other than the
        ledger, or a skippable node whose parents are such, or the view of the ledger (what
        reads it keeps to its own kinds' batches, whose newest commit_seq its fingerprint
        holds). Not an incremental model, nor the ledger itself, nor what reads the clock once
        it has moved."""
        if unique_id not in settled_memo:
            if unique_id.startswith("source."):
                settled_memo[unique_id] = ".platform." in unique_id and not unique_id.endswith(
                    f".{_LEDGER}"
                )
            else:
                settled_memo[unique_id] = unique_id in skippable and all(
                    settled(parent) or _is_ledger_view(parent, every_node)
                    for parent in every_node[unique_id]["depends_on"].get("nodes", [])
                )
        return settled_memo[unique_id]

    def kinds(unique_id: str) -> set[str]:
        if unique_id.startswith("source."):
            return {unique_id.rsplit(".", 1)[1]}
        return _raw_kinds(unique_id, every_node, kinds_memo)

    found: dict[str, str | None] = {}
    for node in parsed.get("nodes", {}).values():
        if node["resource_type"] != "test":
            continue
        parents = node["depends_on"]["nodes"]
        if parents and all(map(settled, parents)) and not (clock_has_moved and _reads_clock(node)):
            read = sorted(set().union(*map(kinds, parents)))
            found[node["name"]] = _fingerprint(code, read, latest)
        else:
            found[node["name"]] = None
    return found


def _is_ledger_view(unique_id: str, every_node: dict) -> bool:
    """A view of the ledger itself (staging's load batches): what reads it joins its own kinds'
    batches, whose newest commit_seq its fingerprint holds."""
    node = every_node.get(unique_id, {})
    return node.get("config", {}).get("materialized") == "view" and any(
        parent.endswith(f".platform.{_LEDGER}") for parent in node["depends_on"].get("nodes", [])
    )


def unchanged(conn: psycopg.Connection, current: dict[str, tuple]) -> list[str]:
    """Nodes whose fingerprint matches the last successful rollup's and whose relation exists."""
    recorded = dict(conn.execute("select node_name, fingerprint from ops.rollup_inputs"))
    existing = {
        relation
        for (relation,) in conn.execute(
            "select relation from unnest(%s::text[]) as relation"
            " where to_regclass(relation) is not null",
            [[relation for relation, _ in current.values()]],
        )
    }
    return sorted(
        name
        for name, (relation, fingerprint) in current.items()
        if recorded.get(name) == fingerprint and relation in existing
    )


def left_out(
    conn: psycopg.Connection, code: str, parsed: dict, latest: dict[str, str]
) -> tuple[list[str], list[str]]:
    """What the next `dbt build` can leave out: the nodes whose input is unchanged, and the
    data tests that passed on the rows they would read."""
    moved = clock_moved(conn)
    unchanged_nodes = unchanged(conn, fingerprints(code, parsed, latest, moved))
    return unchanged_nodes, passed_on_this_input(
        conn, test_fingerprints(code, parsed, latest, moved)
    )


def record_built(
    conn: psycopg.Connection,
    code: str,
    parsed: dict,
    latest: dict[str, str],
    test_statuses: dict[str, str],
) -> None:
    """After a successful rollup: what its nodes were built from, and its tests' verdicts."""
    nodes = fingerprints(code, parsed, latest)
    record(conn, {name: digest for name, (_, digest) in nodes.items()})
    record_tests(conn, test_fingerprints(code, parsed, latest), test_statuses)


def _test_key(name: str) -> str:
    return f"test:{name}"


def passed_on_this_input(conn: psycopg.Connection, tests: dict[str, str | None]) -> list[str]:
    """The data tests that passed in a successful rollup on the rows they would read now."""
    recorded = dict(
        conn.execute(
            "select node_name, fingerprint from ops.rollup_inputs where node_name like 'test:%'"
        )
    )
    return sorted(
        name
        for name, fingerprint in tests.items()
        if fingerprint is not None and recorded.get(_test_key(name)) == fingerprint
    )


def record_tests(
    conn: psycopg.Connection, tests: dict[str, str | None], statuses: dict[str, str]
) -> None:
    """After a successful rollup: the input of each test it ran that passed; a test that did not
    pass (or reads what changes with any run) keeps no record, so it runs next time."""
    passed = {
        _test_key(name): tests[name]
        for name, status in statuses.items()
        if status == "pass" and tests.get(name) is not None
    }
    with conn.transaction():
        conn.execute(
            "delete from ops.rollup_inputs where node_name = any(%s)",
            [[_test_key(name) for name in statuses if _test_key(name) not in passed]],
        )
        record(conn, passed)


def record(conn: psycopg.Connection, current: dict[str, str]) -> None:
    """After a successful rollup: what its nodes were built from."""
    with conn.transaction():
        for name, fingerprint in current.items():
            conn.execute(
                "insert into ops.rollup_inputs (node_name, fingerprint) values (%s, %s)"
                " on conflict (node_name) do update"
                " set fingerprint = excluded.fingerprint, recorded_at = now()",
                [name, fingerprint],
            )


def _manifest_key(manifest: Path, code: str, target: str) -> str:
    stat = manifest.stat()
    return f"{code}:{target}:{stat.st_mtime_ns}:{stat.st_size}"


def _manifest_sidecar(manifest: Path) -> Path:
    return manifest.with_name("manifest.rollup")


def manifest_is_current(manifest: Path, code: str, target: str) -> bool:
    """Whether manifest.json was written by a rollup of this code and target and left as it was
    since (no other dbt call rewrote it): the next build need not write it again."""
    sidecar = _manifest_sidecar(manifest)
    if not (manifest.exists() and sidecar.exists()):
        return False
    return sidecar.read_text() == _manifest_key(manifest, code, target)


def written_at(manifest: Path) -> int | None:
    """When manifest.json was last written (None: it is not there)."""
    return manifest.stat().st_mtime_ns if manifest.exists() else None


def record_manifest(manifest: Path, code: str, target: str) -> None:
    """After a build that wrote manifest.json (parsed from this code and target): its key."""
    _manifest_sidecar(manifest).write_text(_manifest_key(manifest, code, target))

"""Seeds and snapshots a `tally rollup` can skip: those whose input has not changed since the
last successful rollup.

A seed's input is its CSV file and the seeds' YAML; a snapshot's is its SQL, the models and
macros it is built through, the seed fingerprints, and the newest commit_seq of the raw tables it
reads (organizations). Each is summed up as a fingerprint (sha256), recorded in
ops.rollup_inputs after a successful rollup; a node whose fingerprint matches, and whose table
exists, is left out of the next `dbt build` (`--exclude`). A full refresh builds everything.
"""

import hashlib
from pathlib import Path

import psycopg

# node -> (its relation, the raw tables whose new batches change its input)
SEEDS = {"model_prices": ("reference.model_prices", ())}
SNAPSHOTS = {
    "snp_model_prices": ("snapshots.snp_model_prices", ()),
    "snp_organizations": ("snapshots.snp_organizations", ("organizations",)),
}


def _files_digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def fingerprints(conn: psycopg.Connection, project: Path) -> dict[str, str]:
    """The current fingerprint of every skippable node."""
    seed_yaml = sorted((project / "seeds").glob("*.yml"))
    found = {name: _files_digest([project / "seeds" / f"{name}.csv", *seed_yaml]) for name in SEEDS}
    code = [
        path
        for folder in ("models", "macros", "snapshots")
        for path in (project / folder).rglob("*")
        if path.is_file()
    ]
    code_digest = _files_digest(code)
    for name, (_, raw_kinds) in SNAPSHOTS.items():
        latest = [
            conn.execute(
                "select coalesce(max(commit_seq), 0) from raw.load_batches"
                " where status = 'loaded' and kind = %s",
                [kind],
            ).fetchone()[0]
            for kind in raw_kinds
        ]
        parts = [code_digest, *sorted(found.values()), *map(str, latest)]
        found[name] = hashlib.sha256("\0".join(parts).encode()).hexdigest()
    return found


def unchanged(conn: psycopg.Connection, current: dict[str, str]) -> list[str]:
    """Nodes whose fingerprint matches the last successful rollup's and whose table exists."""
    recorded = dict(conn.execute("select node_name, fingerprint from ops.rollup_inputs"))
    relations = {name: relation for name, (relation, _) in {**SEEDS, **SNAPSHOTS}.items()}
    return [
        name
        for name, fingerprint in current.items()
        if recorded.get(name) == fingerprint
        and conn.execute("select to_regclass(%s)", [relations[name]]).fetchone()[0] is not None
    ]


def record(conn: psycopg.Connection, current: dict[str, str]) -> None:
    """After a successful rollup: what its seeds and snapshots were built from."""
    with conn.transaction():
        for name, fingerprint in current.items():
            conn.execute(
                "insert into ops.rollup_inputs (node_name, fingerprint) values (%s, %s)"
                " on conflict (node_name) do update"
                " set fingerprint = excluded.fingerprint, recorded_at = now()",
                [name, fingerprint],
            )

-- What the last successful `tally rollup` built its seeds and snapshots from (a fingerprint per
-- node, cli/tally/rollup_inputs.py): the next run skips a node whose fingerprint is unchanged.
create table ops.rollup_inputs (
    node_name text primary key,
    fingerprint text not null,
    recorded_at timestamptz not null default now()
);

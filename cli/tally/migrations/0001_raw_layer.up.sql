-- The raw layer: what `tally load` writes, append-only, one load batch per file.

create schema if not exists raw;

-- Every file tally tried to load. A batch commits together with its rows, so a batch row with
-- status 'loaded' means all of that file's rows are there. commit_seq orders batches by commit:
-- it is taken under an advisory lock just before commit, so every batch with a commit_seq at or
-- below any value a rollup has read is already visible (see macros/rollup/rollup_begin_run.sql).
create table raw.load_batches (
    batch_id bigint generated always as identity primary key,
    kind text not null check (kind in ('events', 'voids', 'organizations', 'users', 'api_keys')),
    file_name text not null,
    file_sha256 text not null,
    file_format text not null,
    file_size_bytes bigint,
    -- 'loading' exists only inside the loading transaction: readers see 'loaded' or 'failed'.
    status text not null check (status in ('loading', 'loaded', 'failed')),
    failure_reason text,
    records_read bigint not null default 0,
    records_loaded bigint not null default 0,
    records_duplicate bigint not null default 0,
    records_conflicting bigint not null default 0,
    records_quarantined bigint not null default 0,
    started_at timestamptz not null default clock_timestamp(),
    finished_at timestamptz,
    commit_seq bigint unique
);
create unique index load_batches_loaded_file_key
    on raw.load_batches (kind, file_sha256) where status = 'loaded';
create sequence raw.load_commit_seq;

create table raw.events (
    event_id text primary key check (length(event_id) between 1 and 128),
    org_id text not null,
    user_id text,
    api_key_id text,
    model_id text not null,
    event_time timestamptz not null,
    input_tokens bigint not null check (input_tokens >= 0),
    output_tokens bigint not null check (output_tokens >= 0),
    status text not null check (status in ('success', 'error')),
    latency_ms bigint check (latency_ms >= 0),
    -- No foreign key: the loader writes a batch and its rows in one transaction, and a
    -- per-row key check would double the time to load (measured: docs/loading.md).
    batch_id bigint not null,
    record_number bigint not null,
    loaded_at timestamptz not null default now()
);
-- Rows arrive in batch order, so block-range (BRIN) indexes answer "what arrived since" at
-- almost no cost to loading. B-tree indexes on (org_id, event_time) or (model_id, event_time)
-- would each double the cost of loading (random inserts); add them downstream where needed.
create index events_batch_brin on raw.events using brin (batch_id);
create index events_loaded_at_brin on raw.events using brin (loaded_at);

-- The first void of an event wins; a void may arrive before its event.
create table raw.voids (
    event_id text primary key,
    voided_at timestamptz not null,
    reason text,
    batch_id bigint not null references raw.load_batches,
    record_number bigint not null,
    loaded_at timestamptz not null default now()
);
create index voids_batch_brin on raw.voids using brin (batch_id);

-- Reference entities keep every version loaded; the latest (commit_seq, record_number) wins.
create table raw.organizations (
    batch_id bigint not null references raw.load_batches,
    record_number bigint not null,
    org_id text not null,
    name text,
    timezone text,
    plan text,
    created_at timestamptz,
    loaded_at timestamptz not null default now(),
    primary key (batch_id, record_number)
);
create index organizations_org_idx on raw.organizations (org_id);

create table raw.users (
    batch_id bigint not null references raw.load_batches,
    record_number bigint not null,
    user_id text not null,
    org_id text,
    email text,
    created_at timestamptz,
    loaded_at timestamptz not null default now(),
    primary key (batch_id, record_number)
);
create index users_user_idx on raw.users (user_id);

create table raw.api_keys (
    batch_id bigint not null references raw.load_batches,
    record_number bigint not null,
    api_key_id text not null,
    org_id text,
    user_id text,
    key_prefix text,
    created_at timestamptz,
    revoked_at timestamptz,
    loaded_at timestamptz not null default now(),
    primary key (batch_id, record_number)
);
create index api_keys_key_idx on raw.api_keys (api_key_id);

-- Records that broke a rule of the contract, as given, with the reason.
create table raw.quarantine (
    quarantine_id bigint generated always as identity primary key,
    batch_id bigint not null references raw.load_batches,
    file_name text not null,
    record_number bigint not null,
    record text not null,
    reason text not null,
    quarantined_at timestamptz not null default now()
);
create index quarantine_batch_idx on raw.quarantine (batch_id);

-- Duplicates of an already loaded event_id whose fields differ from the first record.
create table raw.event_conflicts (
    conflict_id bigint generated always as identity primary key,
    event_id text not null,
    batch_id bigint not null references raw.load_batches,
    record_number bigint not null,
    record jsonb not null,
    detected_at timestamptz not null default now()
);
create index event_conflicts_event_idx on raw.event_conflicts (event_id);

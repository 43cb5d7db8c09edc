-- The legacy application database (`tally load app.db`): its audit log gets a raw table, and a
-- load batch names the SQLite table it read and how far (rowid) it read it, so that loading the
-- same database again reads only the rows added since (docs/migration-from-sqlite.md).

alter table raw.load_batches
    drop constraint load_batches_kind_check,
    add constraint load_batches_kind_check
        check (kind in ('events', 'voids', 'organizations', 'users', 'api_keys', 'audit_events')),
    add column source_table text,
    add column source_rowid_max bigint,
    add column source_key_at_max text,
    add column unknown_columns text[];

comment on column raw.load_batches.source_table is
    'For a legacy SQLite database: the table read (the file name is the database''s path).';
comment on column raw.load_batches.source_rowid_max is
    'For an append-only legacy table: the highest rowid read; the next load reads above it.';
comment on column raw.load_batches.source_key_at_max is
    'The id of the row at source_rowid_max: a later load trusts the watermark only if it matches.';
comment on column raw.load_batches.unknown_columns is
    'Columns of the legacy table that tally does not know, reported and not loaded.';

-- One row per entry of the legacy application's audit log; the first loaded record of each id
-- wins, checked at commit as for events (deferrable key).
create table raw.audit_events (
    audit_event_id text not null,
    org_id text not null,
    actor_user_id text,
    action text not null,
    target_type text,
    target_id text,
    -- the JSON object as the application stored it (checked by the loader; jsonb in staging)
    metadata text,
    occurred_at timestamptz not null,
    batch_id bigint not null,
    record_number bigint not null,
    loaded_at timestamptz not null default now(),
    constraint audit_events_pkey primary key (audit_event_id) deferrable initially deferred
);
create index audit_events_batch_brin on raw.audit_events using brin (batch_id);
create index audit_events_loaded_at_brin on raw.audit_events using brin (loaded_at);

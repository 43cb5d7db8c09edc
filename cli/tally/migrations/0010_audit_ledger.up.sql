-- The audit ledger: one row per pipeline command (tally load, rollup, verify, ...), written by
-- cli/tally/audit.py when the command ends, successful or not. Append-only: nobody updates or
-- deletes a row (the trigger below rejects it even for the table's owner), and the reading roles
-- tally_analyst and tally_tenant cannot see it (schema ops is closed to them).

create schema if not exists ops;

create table ops.pipeline_runs (
    run_id bigint generated always as identity primary key,
    command text not null,
    arguments jsonb not null default '{}',
    target text,
    os_user text,
    db_user text not null default session_user,
    host text,
    pid integer,
    tally_version text,
    started_at timestamptz not null,
    finished_at timestamptz not null,
    duration_ms bigint not null check (duration_ms >= 0),
    outcome text not null check (outcome in ('success', 'failure')),
    error text,
    changes jsonb not null default '{}'
);
create index pipeline_runs_started_at_idx on ops.pipeline_runs (started_at);

comment on table ops.pipeline_runs is
    'Audit ledger: who ran which tally command with which arguments (secrets redacted), when, for how long, what it changed and how it ended. Append-only.';
comment on column ops.pipeline_runs.arguments is 'The command''s parameters as parsed (name: value), secrets replaced by ***.';
comment on column ops.pipeline_runs.changes is 'What the command changed: rows loaded per kind, rows affected per dbt model, test results.';
comment on column ops.pipeline_runs.error is 'The one-line error of a failed command, secrets replaced by ***.';

create function ops.pipeline_runs_reject_change() returns trigger
language plpgsql as $$
begin
    raise exception 'ops.pipeline_runs is append-only: % is not allowed', tg_op
        using errcode = 'insufficient_privilege';
end
$$;

create trigger pipeline_runs_append_only
    before update or delete on ops.pipeline_runs
    for each row execute function ops.pipeline_runs_reject_change();
create trigger pipeline_runs_no_truncate
    before truncate on ops.pipeline_runs
    for each statement execute function ops.pipeline_runs_reject_change();

revoke all on ops.pipeline_runs from public;
revoke update, delete, truncate on ops.pipeline_runs from current_user;

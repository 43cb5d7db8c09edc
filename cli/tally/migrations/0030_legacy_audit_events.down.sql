-- cascade: the views reading these go too (the next tally rollup builds them again); tables,
-- fct_audit_events among them, stay
drop table raw.audit_events cascade;
delete from raw.quarantine
where batch_id in (select batch_id from raw.load_batches where kind = 'audit_events');
delete from raw.load_batches where kind = 'audit_events';
alter table raw.load_batches
    drop column source_table cascade,
    drop column source_rowid_max cascade,
    drop column source_key_at_max cascade,
    drop column unknown_columns cascade,
    drop constraint load_batches_kind_check,
    add constraint load_batches_kind_check
        check (kind in ('events', 'voids', 'organizations', 'users', 'api_keys'));

-- Items of a file read and passed over as no record of its kind: OpenTelemetry spans without
-- token usage in a spans file (they are no usage events). Counted apart from records_read,
-- which counts the records the contract's rules were applied to.
alter table raw.load_batches
    add column records_skipped bigint not null default 0;

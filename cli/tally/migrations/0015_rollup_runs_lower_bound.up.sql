-- The lowest watermark of the rollups when a run started (0 on a full refresh): the run rolls up
-- the load batches above it, and its data tests read those batches
-- (macros/schema/get_where_subquery.sql).
alter table ops.rollup_runs add column lower_commit_seq bigint not null default 0;

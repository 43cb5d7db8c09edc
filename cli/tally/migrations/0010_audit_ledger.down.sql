drop table ops.pipeline_runs;
drop function ops.pipeline_runs_reject_change();

alter table ops.rollup_runs drop column lower_commit_seq;

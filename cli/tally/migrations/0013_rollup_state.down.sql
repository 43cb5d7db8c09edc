drop table ops.rollup_applied_timezones;
drop table ops.rollup_applied_prices;
drop table ops.rollup_watermarks;
drop table ops.rollup_runs;

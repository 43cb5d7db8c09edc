drop table ops.rollup_inputs;

alter table ops.rollup_applied_prices
    drop column service_tier,
    drop column min_input_tokens,
    drop column next_min_input_tokens,
    drop column cache_read_usd_per_1m,
    drop column cache_write_usd_per_1m,
    drop column reasoning_usd_per_1m;

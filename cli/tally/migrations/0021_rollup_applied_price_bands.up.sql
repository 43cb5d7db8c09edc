-- What a rollup table's costs reflect is now a list of price bands (int_model_prices_banded):
-- per model and service tier, a period and an input-token range, with the cache and reasoning
-- prices. Rows recorded before hold standard, unbounded bands whose cache prices are the input
-- price and whose reasoning price is the output price: what those tables were priced with.
alter table ops.rollup_applied_prices
    add column service_tier text not null default 'standard',
    add column min_input_tokens bigint not null default 0,
    add column next_min_input_tokens bigint,
    add column cache_read_usd_per_1m numeric,
    add column cache_write_usd_per_1m numeric,
    add column reasoning_usd_per_1m numeric;
update ops.rollup_applied_prices set
    cache_read_usd_per_1m = input_usd_per_1m,
    cache_write_usd_per_1m = input_usd_per_1m,
    reasoning_usd_per_1m = output_usd_per_1m;
alter table ops.rollup_applied_prices
    alter column service_tier drop default,
    alter column min_input_tokens drop default,
    alter column cache_read_usd_per_1m set not null,
    alter column cache_write_usd_per_1m set not null,
    alter column reasoning_usd_per_1m set not null;

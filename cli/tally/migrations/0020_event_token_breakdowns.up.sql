-- Events carry the parts of their tokens that providers bill apart, and their service tier:
-- input tokens read from and written to the prompt cache, output tokens spent on reasoning.
-- NULL = absent = 0 (standard for the tier): adding nullable columns rewrites no row. The
-- folded check takes the new rules (the loader quarantines such records first, with their
-- own reason): each part at most what the total leaves, so no sum can overflow.
alter table raw.events
    add column cache_read_input_tokens bigint,
    add column cache_write_input_tokens bigint,
    add column reasoning_tokens bigint,
    add column service_tier text;
alter table raw.events
    drop constraint events_values_check,
    add constraint events_values_check check (
        (octet_length(event_id) between 1 and 128 or length(event_id) between 1 and 128)
        and input_tokens >= 0
        and output_tokens >= 0
        and latency_ms >= 0
        and (status = 'success' or status = 'error')
        and cache_read_input_tokens between 0 and input_tokens
        and cache_write_input_tokens between 0 and input_tokens - coalesce(cache_read_input_tokens, 0)
        and reasoning_tokens between 0 and output_tokens
        and service_tier in ('standard', 'batch', 'priority', 'flex')
    );

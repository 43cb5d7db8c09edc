alter table raw.events
    drop constraint events_values_check,
    add constraint events_values_check check (
        (octet_length(event_id) between 1 and 128 or length(event_id) between 1 and 128)
        and input_tokens >= 0
        and output_tokens >= 0
        and latency_ms >= 0
        and (status = 'success' or status = 'error')
    );
-- cascade: the staging views that read these columns go too; the next tally rollup builds them
alter table raw.events
    drop column cache_read_input_tokens cascade,
    drop column cache_write_input_tokens cascade,
    drop column reasoning_tokens cascade,
    drop column service_tier cascade;

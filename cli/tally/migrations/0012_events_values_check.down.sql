alter table raw.events
    drop constraint events_values_check,
    add constraint events_event_id_check check (length(event_id) between 1 and 128),
    add constraint events_input_tokens_check check (input_tokens >= 0),
    add constraint events_output_tokens_check check (output_tokens >= 0),
    add constraint events_status_check check (status in ('success', 'error')),
    add constraint events_latency_ms_check check (latency_ms >= 0);

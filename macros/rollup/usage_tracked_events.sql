{% macro usage_tracked_events(events, voids, load_batches, bound=none) -%}
    {#- Events with the commit_seq of the batch that loaded each and of the batch that voided
        it (NULL if none): what decides whether an event counts as of a commit_seq
        (usage_counted_as_of). With `bound` (a column of the CTE run_bounds), only the events
        loaded as of it. -#}
    select
        events.*,
        event_batches.commit_seq as event_commit_seq,
        void_batches.commit_seq as void_commit_seq
    from {{ events }} as events
    inner join {{ load_batches }} as event_batches
        on events.batch_id = event_batches.batch_id
    left join {{ voids }} as voids
        on events.event_id = voids.event_id
    left join {{ load_batches }} as void_batches
        on voids.batch_id = void_batches.batch_id
    {%- if bound %}
    where event_batches.commit_seq <= (select {{ bound }} from run_bounds)
    {%- endif %}
{%- endmacro %}

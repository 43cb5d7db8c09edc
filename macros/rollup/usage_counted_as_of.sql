{% macro usage_counted_as_of(tracked_events, bound) -%}
    {#- A predicate true for a tracked event (usage_tracked_events) loaded and not voided as of
        the run bound `bound` (a column of the CTE run_bounds: usage_run_bounds). -#}
    {{ tracked_events }}.event_commit_seq <= (select {{ bound }} from run_bounds)
    and (
        {{ tracked_events }}.void_commit_seq is null
        or {{ tracked_events }}.void_commit_seq > (select {{ bound }} from run_bounds)
    )
{%- endmacro %}

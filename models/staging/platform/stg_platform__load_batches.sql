with

load_batches as (

    select * from {{ source('platform', 'load_batches') }}

),

final as (

    select
        batch_id,
        kind,
        file_name,
        file_sha256,
        file_format,
        file_size_bytes,
        status as load_status,
        failure_reason,
        commit_seq,
        records_read,
        records_loaded,
        records_duplicate,
        records_conflicting,
        records_quarantined,
        started_at,
        finished_at

    from load_batches

)

select * from final

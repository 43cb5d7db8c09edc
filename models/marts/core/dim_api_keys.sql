with

api_keys as (

    select * from {{ ref('stg_platform__api_keys') }}

),

load_batches as (

    select * from {{ ref('stg_platform__load_batches') }}

),

versions_ranked as (

    select
        api_keys.api_key_id,
        api_keys.org_id,
        api_keys.user_id,
        api_keys.key_prefix,
        api_keys.created_at,
        api_keys.revoked_at,
        load_batches.commit_seq,
        load_batches.finished_at as committed_at,
        row_number() over (
            partition by api_keys.api_key_id
            order by load_batches.commit_seq desc, api_keys.record_number desc
        ) as recency_rank

    from api_keys
    inner join load_batches
        on api_keys.batch_id = load_batches.batch_id
    where load_batches.load_status = 'loaded'

),

final as (

    select
        api_key_id,
        org_id,
        user_id,
        key_prefix,
        created_at,
        revoked_at,
        coalesce(revoked_at > {{ dbt.current_timestamp() }}, true) as is_active,
        committed_at as updated_at,
        commit_seq

    from versions_ranked
    where recency_rank = 1

)

select * from final

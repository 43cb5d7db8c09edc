with

users as (

    select * from {{ ref('stg_platform__users') }}

),

load_batches as (

    select * from {{ ref('stg_platform__load_batches') }}

),

versions_ranked as (

    select
        users.user_id,
        users.org_id,
        users.email,
        users.created_at,
        load_batches.commit_seq,
        load_batches.finished_at as committed_at,
        row_number() over (
            partition by users.user_id
            order by load_batches.commit_seq desc, users.record_number desc
        ) as recency_rank

    from users
    inner join load_batches
        on users.batch_id = load_batches.batch_id
    where load_batches.load_status = 'loaded'

),

final as (

    select
        user_id,
        org_id,
        {{ hash_pii('email') }} as email_hash,
        created_at,
        committed_at as updated_at,
        commit_seq

    from versions_ranked
    where recency_rank = 1

)

select * from final

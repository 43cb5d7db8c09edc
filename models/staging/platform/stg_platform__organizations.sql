with

organizations as (

    select * from {{ source('platform', 'organizations') }}

),

final as (

    select
        org_id,
        nullif(trim(name), '') as org_name,
        nullif(trim(timezone), '') as timezone,
        nullif(trim(plan), '') as plan,
        created_at,
        batch_id,
        record_number,
        loaded_at

    from organizations

)

select * from final

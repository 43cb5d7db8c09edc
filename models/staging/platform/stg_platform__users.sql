with

users as (

    select * from {{ source('platform', 'users') }}

),

final as (

    select
        user_id,
        org_id,
        nullif(lower(trim(email)), '') as email,
        created_at,
        batch_id,
        record_number,
        loaded_at

    from users

)

select * from final

with

api_keys as (

    select * from {{ source('platform', 'api_keys') }}

),

final as (

    select
        api_key_id,
        org_id,
        user_id,
        key_prefix,
        created_at,
        revoked_at,
        batch_id,
        record_number,
        loaded_at

    from api_keys

)

select * from final

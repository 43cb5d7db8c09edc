with

voids as (

    select * from {{ source('platform', 'voids') }}

),

final as (

    select
        event_id,
        voided_at,
        reason as void_reason,
        batch_id,
        loaded_at

    from voids

)

select * from final

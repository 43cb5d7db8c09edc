{% snapshot snp_organizations %}

    with

    organizations as (

        select * from {{ ref('dim_organizations') }}

    ),

    final as (

        select
            org_id,
            org_name,
            timezone,
            plan,
            created_at,
            updated_at

        from organizations

    )

    select * from final

{% endsnapshot %}

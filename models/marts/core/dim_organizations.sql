with

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

load_batches as (

    select * from {{ ref('stg_platform__load_batches') }}

),

versions as (

    select
        organizations.org_id,
        organizations.org_name,
        organizations.timezone,
        organizations.plan,
        organizations.created_at,
        organizations.record_number,
        load_batches.commit_seq,
        load_batches.finished_at as committed_at

    from organizations
    inner join load_batches
        on organizations.batch_id = load_batches.batch_id
    where load_batches.load_status = 'loaded'

),

-- The version committed just before each one, to tell changes from reloads of the same values.
versions_with_previous as (

    select
        versions.*,
        lag(versions.commit_seq) over by_commit as previous_commit_seq,
        lag(versions.org_name) over by_commit as previous_org_name,
        lag(versions.timezone) over by_commit as previous_timezone,
        lag(versions.plan) over by_commit as previous_plan,
        lag(versions.created_at) over by_commit as previous_created_at,
        row_number() over (
            partition by versions.org_id
            order by versions.commit_seq desc, versions.record_number desc
        ) as recency_rank

    from versions
    window by_commit as (
        partition by versions.org_id
        order by versions.commit_seq asc, versions.record_number asc
    )

),

-- A version changes the organization when it is the first or any attribute differs from the
-- version before it; a reload of the same values is not a change.
versions_flagged as (

    select
        *,
        case
            when
                previous_commit_seq is null
                or (previous_org_name is distinct from org_name)
                or (previous_timezone is distinct from timezone)
                or (previous_plan is distinct from plan)
                or (previous_created_at is distinct from created_at)
                then committed_at
        end as changed_at

    from versions_with_previous

),

latest_change as (

    select
        org_id,
        max(changed_at) as updated_at

    from versions_flagged
    group by org_id

),

final as (

    select
        versions_flagged.org_id,
        versions_flagged.org_name,
        versions_flagged.timezone,
        versions_flagged.plan,
        versions_flagged.created_at,
        latest_change.updated_at,
        versions_flagged.commit_seq

    from versions_flagged
    inner join latest_change
        on versions_flagged.org_id = latest_change.org_id
    where versions_flagged.recency_rank = 1

)

select * from final

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

-- A version changes the organization when any attribute differs from the version committed
-- just before it; a reload of the same values is not a change.
versions_flagged as (

    select
        versions.*,
        row_number() over newest_first as recency_rank,
        case
            when
                lag(versions.commit_seq) over oldest_first is null
                or lag(versions.org_name) over oldest_first is distinct from versions.org_name
                or lag(versions.timezone) over oldest_first is distinct from versions.timezone
                or lag(versions.plan) over oldest_first is distinct from versions.plan
                or lag(versions.created_at) over oldest_first
                is distinct from versions.created_at
                then versions.committed_at
        end as changed_at

    from versions
    window
        oldest_first as (
            partition by versions.org_id
            order by versions.commit_seq asc, versions.record_number asc
        ),
        newest_first as (
            partition by versions.org_id
            order by versions.commit_seq desc, versions.record_number desc
        )

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

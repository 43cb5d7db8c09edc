-- Every organization record with the range of load commits in which it is the current one:
-- valid from its batch's commit_seq until the next record of the same org_id (last loaded wins).
-- The rollups read the version current at their run's upper commit_seq.
with

organizations as (

    select * from {{ ref('stg_platform__organizations') }}

),

load_batches as (

    select * from {{ ref('stg_platform__load_batches') }}

),

ordered as (

    select
        organizations.org_id,
        coalesce(nullif(organizations.timezone, ''), 'UTC') as timezone,
        load_batches.commit_seq as valid_from_commit_seq,
        lead(load_batches.commit_seq) over (
            partition by organizations.org_id
            order by load_batches.commit_seq, organizations.record_number
        ) as valid_to_commit_seq
    from organizations
    inner join load_batches
        on organizations.batch_id = load_batches.batch_id

),

final as (

    select
        org_id,
        timezone,
        valid_from_commit_seq,
        valid_to_commit_seq
    from ordered
    -- a record replaced within its own file is current for no commit at all
    where valid_to_commit_seq is null or valid_to_commit_seq > valid_from_commit_seq

)

select * from final

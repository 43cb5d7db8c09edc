-- The loader COPYs a file's records straight into raw.events and raw.voids, then removes the
-- ones that lose to an earlier record of the same key (first loaded wins) before it commits.
-- The keys stay unique for every reader: a deferred check runs at commit, and only for keys that
-- met another row on insert (docs/loading.md).
alter table raw.events
    drop constraint events_pkey,
    add constraint events_pkey primary key (event_id) deferrable initially deferred;
alter table raw.voids
    drop constraint voids_pkey,
    add constraint voids_pkey primary key (event_id) deferrable initially deferred;

alter table raw.voids
    drop constraint voids_pkey,
    add constraint voids_pkey primary key (event_id);
alter table raw.events
    drop constraint events_pkey,
    add constraint events_pkey primary key (event_id);

-- cascade: the staging views reading it go too; the next tally rollup builds them again
alter table raw.load_batches drop column records_skipped cascade;

alter table raw.load_batches drop column records_skipped;

"""The `spark` target: Apache Spark through dbt-spark, with a raw layer of parquet files.

Modules: environment (Java, the spark extra, where the warehouse and the raw layer live),
raw_layer (the raw tables as folders of parquet files and the ledger that makes a batch
visible), keys (first-wins deduplication against a key index bucketed by hash), loading
(`tally load --target spark`: the same parsing and validation as on PostgreSQL, only the writing
differs).
"""

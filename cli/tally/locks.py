"""The advisory lock keys tally's processes share, each defined once.

dbt cannot import Python: the one key the dbt project takes itself (LOAD_COMMIT, read under by
the rollup's on-run-start hook) is also the var `tally_load_commit_lock` of dbt_project.yml, and
a test checks that the two agree.
"""

MIGRATIONS = 7_424_911  # pg_advisory_xact_lock: migrations are applied one process at a time
LOAD_COMMIT = 7_424_912  # pg_advisory_xact_lock: a load from drawing its commit_seq to commit
ROLLUP = 7_424_913  # pg_advisory_lock: one `tally rollup` (or `tally verify`) per database

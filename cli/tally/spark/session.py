"""The Spark session of this process: the one dbt-spark started (session mode), or one started
through dbt with the profile's settings, so that tally reads the warehouse dbt writes."""


def spark_session():
    """Spark's default session. dbt runs its models in threads of its own, where the session
    is active; it is found from any thread through the process's one SparkContext."""
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    from tally.dbt_invocation import run_dbt
    from tally.errors import TallyError

    if SparkContext._active_spark_context is None:
        result = run_dbt("spark", "show", "--inline", "select 1", "--log-level", "none")
        if SparkContext._active_spark_context is None:
            raise TallyError(f"Spark did not start: {result.exception or 'see dbt.log'}")
    return SparkSession.builder.getOrCreate()

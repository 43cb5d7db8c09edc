"""The Spark session of this process: the one dbt-spark started (session mode), or one started
through dbt with the profile's settings, so that tally reads the warehouse dbt writes."""


def spark_session():
    from pyspark.sql import SparkSession

    from tally.dbt_invocation import run_dbt
    from tally.errors import TallyError

    session = SparkSession.getActiveSession()
    if session is None:
        result = run_dbt("spark", "show", "--inline", "select 1", "--log-level", "none")
        session = SparkSession.getActiveSession()
        if session is None:
            raise TallyError(f"Spark did not start: {result.exception or 'see dbt.log'}")
    return session

"""What the `spark` target needs on this machine, and where its state lives.

Local mode (the default) runs Spark inside the tally process; its warehouse, Derby metastore and
raw layer live under $TALLY_HOME/spark. A user's Spark Thrift Server is named by
TALLY_SPARK_HOST (profiles.example.yml); the raw layer is then TALLY_SPARK_RAW, a URI that both
tally and the cluster reach (s3://..., hdfs://...).
"""

import importlib.util
import os
import re
import shutil
import subprocess
from pathlib import Path

from tally.errors import TallyError
from tally.paths import tally_home

JAVA_MAJOR = 17
_JAVA_HINT = (
    f"Error: the spark target needs Java {JAVA_MAJOR} or newer (a `java` on PATH, or JAVA_HOME);"
    f" install it, e.g. `apt-get install openjdk-{JAVA_MAJOR}-jre-headless`"
)


def spark_home() -> Path:
    """$TALLY_HOME/spark: the local warehouse, metastore and raw layer."""
    folder = tally_home() / "spark"
    folder.mkdir(exist_ok=True)
    return folder


def is_local() -> bool:
    """Local mode: no Thrift server named."""
    return not os.environ.get("TALLY_SPARK_HOST")


def raw_location() -> str:
    """Where the raw layer's parquet files live: a local folder or a URI of the cluster's."""
    if os.environ.get("TALLY_SPARK_RAW"):
        return os.environ["TALLY_SPARK_RAW"].rstrip("/")
    if not is_local():
        raise TallyError(
            "TALLY_SPARK_HOST names a Spark Thrift Server but TALLY_SPARK_RAW is not set: name"
            " the raw layer's folder that tally writes and the cluster reads (s3://, hdfs://)"
        )
    return str(spark_home() / "raw")


def _java() -> str | None:
    if os.environ.get("JAVA_HOME"):
        candidate = Path(os.environ["JAVA_HOME"]) / "bin" / "java"
        if candidate.is_file():
            return str(candidate)
    return shutil.which("java")


def java_major(java: str) -> int | None:
    """The major version `java -version` reports (17 for "17.0.15", 8 for "1.8.0_392")."""
    try:
        output = subprocess.run(
            [java, "-version"], capture_output=True, text=True, timeout=30
        ).stderr
    except (OSError, subprocess.TimeoutExpired):
        return None
    found = re.search(r'version "(\d+)(?:\.(\d+))?', output)
    if not found:
        return None
    major = int(found.group(1))
    return int(found.group(2) or 0) if major == 1 else major


def require_spark() -> None:
    """One clear line when local Spark cannot run here: no Java 17+, or no spark extra."""
    # found, not imported: a load needs neither, and importing them costs seconds
    if not all(importlib.util.find_spec(name) for name in ("pyspark", "dbt.adapters.spark")):
        raise TallyError(
            "the spark target needs dbt-spark and pyspark: pip install 'tally[spark]'"
            " (or `make install` in a checkout)"
        )
    if not is_local():
        return
    java = _java()
    major = java_major(java) if java else None
    if major is None or major < JAVA_MAJOR:
        found = f" (found Java {major} at {java})" if major else ""
        raise TallyError(_JAVA_HINT.removeprefix("Error: ") + found)
    if not os.environ.get("JAVA_HOME"):
        # pyspark starts the JVM from JAVA_HOME when set: point it at the java found
        os.environ["JAVA_HOME"] = str(Path(java).resolve().parents[1])


def dbt_variables() -> dict[str, str]:
    """What the profile and the spark__ macros read: the raw layer's location."""
    return {"TALLY_SPARK_RAW_LOCATION": raw_location()}

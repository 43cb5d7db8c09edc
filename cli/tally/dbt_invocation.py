"""Running dbt against the active target, in-process through dbtRunner.

Measured on the 2-core machine (docs/decisions.md): a `dbt build` of the walking skeleton took
5.5 s as a subprocess, 3.9 s in-process for the first call (the import included) and 0.4 s for
each later call in the same process. Commands that call dbt several times (verify) and the tests
gain most. The import is paid only by commands that run dbt.
"""

import os
from pathlib import Path

from tally import logs, tracing
from tally.paths import project_dir, tally_home
from tally.targets import dbt_environment


def artifacts_dir() -> Path:
    """dbt's target path: manifest.json and run_results.json of the latest dbt call."""
    return tally_home() / "target"


def _profiles_dir(home: Path) -> Path:
    """The profiles folder: $TALLY_USER_PROFILES_DIR when set, else the project's own when it
    holds a profiles.yml (as dbt looks in the current folder), else one whose profiles.yml is
    the project's profiles.example.yml."""
    if os.environ.get("TALLY_USER_PROFILES_DIR"):
        return Path(os.environ["TALLY_USER_PROFILES_DIR"])
    project = project_dir()
    if (project / "profiles.yml").is_file():
        return project
    folder = home / "profiles"
    folder.mkdir(exist_ok=True)
    link = folder / "profiles.yml"
    if link.is_symlink() and link.resolve() != (project / "profiles.example.yml").resolve():
        link.unlink()
    if not link.is_symlink():
        link.symlink_to(project / "profiles.example.yml")
    return folder


def dbt_env(target: str) -> dict[str, str]:
    """The variables dbt reads: profile, artifact and log folders, and the target's connection."""
    home = tally_home()
    return {
        "DBT_PROFILES_DIR": str(_profiles_dir(home)),
        "DBT_TARGET_PATH": str(artifacts_dir()),
        "DBT_LOG_PATH": str(home / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "TALLY_TARGET": target,
        **dbt_environment(target),
    }


def _callbacks(args: tuple[str, ...]) -> tuple[list, list[str]]:
    """dbt event callbacks and extra arguments: with JSON logs dbt's console output is off and
    its events come through tally.logs instead (unless the caller silenced dbt); with tracing,
    each finished node becomes a span."""
    callbacks, extra = [], []
    if logs.is_json() and "--log-level" not in args:
        callbacks.append(logs.dbt_callback)
        extra = ["--log-level", "none"]
    node_spans = tracing.dbt_node_callback()
    if node_spans:
        callbacks.append(node_spans)
    return callbacks, extra


def run_dbt(target: str, *args: str, env: dict[str, str] | None = None):
    """Run `dbt ARGS --target TARGET` on the project; returns dbt's dbtRunnerResult. `env`:
    variables set for this call only (macros read them with env_var at run time)."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(target))
    extra_env = env or {}
    previous = {name: os.environ.get(name) for name in extra_env}
    os.environ.update(extra_env)
    try:
        with tracing.span(f"dbt {args[0]}", **{"dbt.command": " ".join(args)}) as span:
            callbacks, extra = _callbacks(args)
            result = dbtRunner(callbacks=callbacks).invoke(
                [*args, *extra, "--project-dir", str(project_dir()), "--target", target]
            )
            if not result.success:
                tracing.mark_failed(span, str(result.exception or f"dbt {args[0]} failed"))
        return result
    finally:
        for name, value in previous.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value

"""Where things live and the few knobs an operator sets, all from the environment.

Every path derives from ``CTE_HOME`` (the repository root by default) so tests and the
benchmark can point a whole pipeline at a scratch folder with one variable.

``get_settings()`` is the one reader of the project's environment variables, and it is
called only at the edges: the code location's load (definitions.py), the `cte` command's
main, the sample-data generator's and a benchmark's main. From there the ``Settings`` are
handed down: to assets, sensors and schedules as the Dagster resource ``settings``, to plain
functions as the values they need (decision 0034).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Part of the code, not of the configuration: no variable moves them.
DBT_PROJECT_DIR = REPO_ROOT / "dbt"
EXPECTATIONS_DIR = REPO_ROOT / "expectations"
DEVELOPMENT_PSEUDONYM_KEY = "nm-cte-development-key-not-for-production"


@functools.cache
def dbt_var(name: str) -> str:
    """A variable of dbt/dbt_project.yml the load must agree with the marts on (the state's
    labor-market area code, its postal code)."""
    project = yaml.safe_load((DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    return str(project["vars"][name])


@dataclass(frozen=True)
class GzipLimits:
    """How far a .csv.gz may expand before it is rejected (decision 0010).

    The whole text of a file is held in memory (about five times its size once parsed), so
    the size limit bounds a load's memory; the ratio catches a bomb early, long before the
    size limit, and applies only past ``ratio_floor`` so a small file never trips it.
    """

    max_bytes: int = 1 << 30  # CTE_GZIP_MAX_BYTES
    max_ratio: int = 200  # CTE_GZIP_MAX_RATIO; CSV text compresses 5-30 times
    ratio_floor: int = 16 << 20


@dataclass(frozen=True)
class EdFiSettings:
    """Where Nova (the state's Ed-Fi ODS/API) is and how to pull from it (decision 0022)."""

    url: str  # CTE_EDFI_URL: the API's base, e.g. https://nova.example/api
    client_id: str  # CTE_EDFI_CLIENT_ID
    client_secret: str = field(repr=False)  # CTE_EDFI_CLIENT_SECRET: never printed
    school_year: int | None = None  # CTE_EDFI_SCHOOL_YEAR; None = the current school year
    # CTE_EDFI_YEAR_SPECIFIC=1: an ODS per school year, its routes carry the year
    # (/data/v3/2024/ed-fi/...).
    year_specific: bool = False
    page_size: int = 500  # CTE_EDFI_PAGE_SIZE: the ODS/API's default limit is 25, max 500
    timeout_seconds: float = 60.0  # CTE_EDFI_TIMEOUT_SECONDS, per request


@dataclass(frozen=True)
class Settings:
    home: Path
    landing_dir: Path
    warehouse_dir: Path
    dbt_project_dir: Path
    expectations_dir: Path
    min_n: int
    # Processes suppressing the publish's chunks (at most the CPU count): each holds one
    # chunk of about 200k rows, ~1 GiB at state scale.
    publish_workers: int = 2
    gzip_limits: GzipLimits = GzipLimits()
    # A submission is held instead of becoming current (ingest/hold.py) when more than this
    # share of its rows is set aside: the 1 - mostly of a blocking expectation.
    hold_set_aside_share: float = 0.01
    # ... or when it loads fewer rows than this fraction of the district's previous
    # submission of the slice (or half this fraction of last year's), if that one had at least
    # hold_volume_min_rows rows: below that, a small district's counts swing by chance.
    hold_volume_ratio: float = 0.5
    hold_volume_min_rows: int = 30
    edfi: EdFiSettings | None = None  # set only when CTE_EDFI_URL, _CLIENT_ID, _SECRET are
    # CTE_WAREHOUSE: what builds the marts, duckdb or spark (docs/scale-out.md).
    warehouse_engine: str = "duckdb"
    # CTE_DBT_TARGET: the output of dbt/profiles.yml dbt runs with.
    dbt_target: str = "duckdb"
    # CTE_SPARK_DIR: Spark's working folders; None = <warehouse_dir>/spark.
    spark_dir: Path | None = None
    # CTE_PSEUDONYM_KEY: the HMAC secret for student IDs (decision 0012); never printed.
    pseudonym_secret: str | None = field(default=None, repr=False)
    # DAGSTER_IS_DEV_CLI (set by `dg dev`): the code server prepares the dbt manifest.
    dagster_dev: bool = False

    @property
    def use_spark(self) -> bool:
        """True when the operator chose Spark (CTE_WAREHOUSE=spark or CTE_DBT_TARGET=spark)."""
        return "spark" in (self.warehouse_engine, self.dbt_target)

    @property
    def spark_root(self) -> Path:
        """Spark's working folders (scaleout/spark.py's SparkLayout)."""
        return self.spark_dir if self.spark_dir is not None else self.warehouse_dir / "spark"

    def dbt_env(self) -> dict[str, str]:
        """The variables dbt/profiles.yml reads that the project sets: given to every dbt
        invocation (the CLI's subprocess, the Dagster resource's, Spark's in-process runs).
        The adapters' tuning knobs (CTE_DUCKDB_MEMORY_LIMIT, CTE_SPARK_MASTER, ...) reach
        dbt from the environment as they are."""
        return {
            "CTE_WAREHOUSE_PATH": str(self.warehouse_path),
            "CTE_DBT_TARGET": self.dbt_target,
            "CTE_SPARK_DIR": str(self.spark_root.resolve()),
        }

    def pseudonym_key(self) -> bytes:
        """The HMAC secret for student IDs; the public development key only when none is set,
        and then only the generated sample loads (decision 0012)."""
        if self.pseudonym_secret:
            return self.pseudonym_secret.encode()
        _warn_development_key()
        return DEVELOPMENT_PSEUDONYM_KEY.encode()

    @property
    def edfi_landing_dir(self) -> Path:
        """Where Ed-Fi pulls land the submissions they derive: beside the watched folders,
        not in them, so a landing sensor never starts a second run for one."""
        return self.landing_dir / "edfi"

    @property
    def warehouse_path(self) -> Path:
        """The working warehouse: one writer at a time, never opened by analysts."""
        return self.warehouse_dir / "cte.duckdb"

    @property
    def recorded_files_path(self) -> Path:
        """(SHA-256, path) of every file in the load manifest, for the sensors (ingest/audit.py)."""
        return self.warehouse_dir / "recorded_files.jsonl"

    @property
    def published_dir(self) -> Path:
        return self.warehouse_dir / "published"

    @property
    def published_path(self) -> Path:
        return self.published_dir / "cte_marts.duckdb"

    @property
    def reports_dir(self) -> Path:
        return self.warehouse_dir / "reports"

    @property
    def dagster_home(self) -> Path:
        return self.warehouse_dir / "dagster_home"

    @property
    def logs_dir(self) -> Path:
        """The full output of each `cte run` / `cte load` (the terminal shows a summary)."""
        return self.warehouse_dir / "logs"


def default_landing_dir(home: Path) -> Path:
    """Where files land without CTE_LANDING_DIR: the development layout, under CTE_HOME."""
    return (home / "raw" / "landing").resolve()


def get_settings() -> Settings:
    """The settings of this process's environment: the one place the project reads its
    variables (CTE_*, and DAGSTER_IS_DEV_CLI). Called only at the edges (module docstring).

    Cached: the same environment gives the same Settings object, parsed once. The cache is
    keyed by the variables read (and the working directory, which a relative CTE_HOME is
    taken from), so a changed environment (a test's monkeypatch) is read again instead of
    answered with the settings of another one."""
    variables = (k for k in os.environ if k in _READ or k.startswith("CTE_"))
    return _settings_of(os.getcwd(), tuple(sorted((k, os.environ[k]) for k in variables)))


_READ = frozenset({"DAGSTER_IS_DEV_CLI"})


@functools.lru_cache(maxsize=16)
def _settings_of(cwd: str, variables: tuple[tuple[str, str], ...]) -> Settings:
    env = dict(variables)
    home = Path(env.get("CTE_HOME", REPO_ROOT)).resolve()
    warehouse_dir = Path(env.get("CTE_WAREHOUSE_DIR", home / "warehouse")).resolve()
    spark_dir = env.get("CTE_SPARK_DIR")
    return Settings(
        home=home,
        landing_dir=Path(env.get("CTE_LANDING_DIR", default_landing_dir(home))).resolve(),
        warehouse_dir=warehouse_dir,
        dbt_project_dir=DBT_PROJECT_DIR,
        expectations_dir=EXPECTATIONS_DIR,
        min_n=int(env.get("CTE_MIN_N", "10")),
        publish_workers=int(env.get("CTE_PUBLISH_WORKERS", "2")),
        gzip_limits=GzipLimits(
            max_bytes=int(env.get("CTE_GZIP_MAX_BYTES", GzipLimits.max_bytes)),
            max_ratio=int(env.get("CTE_GZIP_MAX_RATIO", GzipLimits.max_ratio)),
        ),
        hold_set_aside_share=float(env.get("CTE_HOLD_SET_ASIDE_SHARE", "0.01")),
        hold_volume_ratio=float(env.get("CTE_HOLD_VOLUME_RATIO", "0.5")),
        hold_volume_min_rows=int(env.get("CTE_HOLD_VOLUME_MIN_ROWS", "30")),
        edfi=_edfi_settings(env),
        warehouse_engine=env.get("CTE_WAREHOUSE", "duckdb"),
        dbt_target=env.get("CTE_DBT_TARGET", "duckdb"),
        spark_dir=Path(spark_dir) if spark_dir is not None else None,
        pseudonym_secret=env.get("CTE_PSEUDONYM_KEY") or None,
        dagster_dev=bool(env.get("DAGSTER_IS_DEV_CLI")),
    )


def _edfi_settings(env: dict[str, str]) -> EdFiSettings | None:
    url, client_id, secret = (
        env.get(f"CTE_EDFI_{name}", "").strip() for name in ("URL", "CLIENT_ID", "CLIENT_SECRET")
    )
    if not (url and client_id and secret):
        return None
    year = env.get("CTE_EDFI_SCHOOL_YEAR", "").strip()
    return EdFiSettings(
        url=url.rstrip("/"),
        client_id=client_id,
        client_secret=secret,
        school_year=int(year) if year else None,
        year_specific=env.get("CTE_EDFI_YEAR_SPECIFIC", "") in ("1", "true", "yes"),
        page_size=int(env.get("CTE_EDFI_PAGE_SIZE", "500")),
        timeout_seconds=float(env.get("CTE_EDFI_TIMEOUT_SECONDS", "60")),
    )


@functools.cache
def _warn_development_key() -> None:
    """Once per process: every extract's load asks for the key (13 warnings a run, issue 24)."""
    log.warning(
        "CTE_PSEUDONYM_KEY is not set: only the generated sample data will load (hashed with "
        "the public development key). Set a secret key before loading real data."
    )


def is_development_key(key: bytes) -> bool:
    return hmac.compare_digest(key, DEVELOPMENT_PSEUDONYM_KEY.encode())


@functools.lru_cache(maxsize=8)
def key_fingerprint(key: bytes) -> str:
    """What the manifest records of the key: enough to tell two keys apart, not to test
    guesses of it quickly. PBKDF2 with 200,000 rounds costs ~0.1 s once per load and as much
    per guess; 64 bits of output cannot confirm a long key by themselves."""
    digest = hashlib.pbkdf2_hmac("sha256", key, b"nm-cte pseudonym key fingerprint", 200_000)
    return digest[:8].hex()


@contextmanager
def environment(values: Mapping[str, str]) -> Iterator[None]:
    """``values`` in os.environ while the block runs, the previous ones after: how dbt gets
    its variables when it runs in this process (Spark) or from a library that copies the
    environment when it starts dbt (dagster-dbt's resource)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def disable_telemetry() -> None:
    """Belt and braces beside the project's config files: nothing phones home at run time."""
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

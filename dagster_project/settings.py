"""Where things live and the few knobs an operator sets, all from the environment.

Every path derives from ``CTE_HOME`` (the repository root by default) so tests and the
benchmark can point a whole pipeline at a scratch folder with one variable.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml

log = logging.getLogger(__name__)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEVELOPMENT_PSEUDONYM_KEY = "nm-cte-development-key-not-for-production"


@functools.cache
def dbt_var(name: str) -> str:
    """A variable of dbt/dbt_project.yml the load must agree with the marts on (the state's
    labor-market area code, its postal code)."""
    project = yaml.safe_load((REPO_ROOT / "dbt" / "dbt_project.yml").read_text())
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
    home = Path(os.environ.get("CTE_HOME", REPO_ROOT)).resolve()
    return Settings(
        home=home,
        landing_dir=Path(os.environ.get("CTE_LANDING_DIR", default_landing_dir(home))).resolve(),
        warehouse_dir=Path(os.environ.get("CTE_WAREHOUSE_DIR", home / "warehouse")).resolve(),
        dbt_project_dir=REPO_ROOT / "dbt",
        expectations_dir=REPO_ROOT / "expectations",
        min_n=int(os.environ.get("CTE_MIN_N", "10")),
        publish_workers=int(os.environ.get("CTE_PUBLISH_WORKERS", "2")),
        gzip_limits=GzipLimits(
            max_bytes=int(os.environ.get("CTE_GZIP_MAX_BYTES", GzipLimits.max_bytes)),
            max_ratio=int(os.environ.get("CTE_GZIP_MAX_RATIO", GzipLimits.max_ratio)),
        ),
        hold_set_aside_share=float(os.environ.get("CTE_HOLD_SET_ASIDE_SHARE", "0.01")),
        hold_volume_ratio=float(os.environ.get("CTE_HOLD_VOLUME_RATIO", "0.5")),
        hold_volume_min_rows=int(os.environ.get("CTE_HOLD_VOLUME_MIN_ROWS", "30")),
        edfi=_edfi_settings(),
    )


def _edfi_settings() -> EdFiSettings | None:
    url, client_id, secret = (
        os.environ.get(f"CTE_EDFI_{name}", "").strip()
        for name in ("URL", "CLIENT_ID", "CLIENT_SECRET")
    )
    if not (url and client_id and secret):
        return None
    year = os.environ.get("CTE_EDFI_SCHOOL_YEAR", "").strip()
    return EdFiSettings(
        url=url.rstrip("/"),
        client_id=client_id,
        client_secret=secret,
        school_year=int(year) if year else None,
        year_specific=os.environ.get("CTE_EDFI_YEAR_SPECIFIC", "") in ("1", "true", "yes"),
        page_size=int(os.environ.get("CTE_EDFI_PAGE_SIZE", "500")),
        timeout_seconds=float(os.environ.get("CTE_EDFI_TIMEOUT_SECONDS", "60")),
    )


def pseudonym_key() -> bytes:
    """The HMAC secret for student IDs; the public development key only when none is set,
    and then only the generated sample loads (decision 0012)."""
    key = os.environ.get("CTE_PSEUDONYM_KEY")
    if key:
        return key.encode()
    _warn_development_key()
    return DEVELOPMENT_PSEUDONYM_KEY.encode()


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


def disable_telemetry() -> None:
    """Belt and braces beside the project's config files: nothing phones home at run time."""
    os.environ.setdefault("DAGSTER_DISABLE_TELEMETRY", "1")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

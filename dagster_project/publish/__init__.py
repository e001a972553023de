"""Write-audit-publish: suppressed, de-identified marts for analysts (pure Python, no Dagster).

The Dagster asset and the ``cte`` CLI call :func:`publish_snapshot` (and :func:`rollback`);
analysts reach the result with :func:`open_sql_prompt` or any DuckDB 2.x client.
"""

from dagster_project.publish.snapshot import (
    IdentifierFound,
    PublishBlocked,
    PublishInfo,
    current_code_version,
    gate,
    publish_snapshot,
)
from dagster_project.publish.spec import PublishSpec, PublishSpecError, load_publish_specs
from dagster_project.publish.sql_prompt import open_sql_prompt
from dagster_project.publish.staging import PublishOptions
from dagster_project.publish.store import PublishError, RolledBack, rollback
from dagster_project.publish.suppression import (
    DEFAULT_BANDS,
    CodingBand,
    SuppressionRules,
    suppress,
)

__all__ = [
    "DEFAULT_BANDS",
    "CodingBand",
    "IdentifierFound",
    "PublishBlocked",
    "PublishError",
    "PublishInfo",
    "PublishOptions",
    "PublishSpec",
    "PublishSpecError",
    "RolledBack",
    "SuppressionRules",
    "current_code_version",
    "gate",
    "load_publish_specs",
    "open_sql_prompt",
    "publish_snapshot",
    "rollback",
    "suppress",
]

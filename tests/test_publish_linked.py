"""A value derived from another published table's row is hidden where that row is hidden."""

from __future__ import annotations

import polars as pl

from dagster_project.publish.snapshot import hide_linked
from dagster_project.publish.spec import HiddenWith, PublishSpec
from dagster_project.publish.suppression import SuppressedTable


def _spec(table: str, hidden_with=()) -> PublishSpec:
    return PublishSpec(
        table=table,
        unique_id=f"model.x.{table}",
        relation=table,
        grain="",
        description="",
        primary_key=("entity",),
        cell_size="n",
        counts=("n",),
        rates=(),
        derived=(),
        sibling_sets=(),
        column_descriptions={},
        hidden_with=tuple(hidden_with),
    )


def _table(frame: pl.DataFrame) -> SuppressedTable:
    return SuppressedTable(frame, frame.height, 0, 0, 0, 0)


def test_gap_is_hidden_where_the_all_students_rate_is_hidden():
    perkins = pl.DataFrame(
        {
            "entity": ["a", "b", "a", "b"],
            "group_type": ["all", "all", "sex", "sex"],
            "rate": [None, 0.5, 0.4, 0.6],  # a's all-students rate was suppressed
        }
    )
    gaps = pl.DataFrame(
        {
            "entity": ["a", "b", "c"],
            "group_rate": [0.4, 0.6, 0.7],
            "all_students_rate": [0.45, 0.5, 0.6],
            "gap": [-0.05, 0.1, 0.1],
        }
    )
    link = HiddenWith(
        "perkins", ("entity",), {"group_type": "all"}, "rate", ("all_students_rate", "gap")
    )
    tables = {"perkins": _table(perkins), "gaps": _table(gaps)}
    hide_linked(tables, [_spec("perkins"), _spec("gaps", [link])])
    out = tables["gaps"].frame
    assert out["entity"].to_list() == ["a", "b", "c"]
    assert out["gap"].to_list() == [None, 0.1, None]  # c: no published all-students row
    assert out["all_students_rate"].to_list() == [None, 0.5, None]
    assert out["group_rate"].to_list() == [0.4, 0.6, 0.7]

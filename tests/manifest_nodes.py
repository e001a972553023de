"""Manifest nodes of published models, as dbt writes them, for the publish tests."""

from __future__ import annotations

from typing import Any


def published_model(
    unique_id: str, block: dict[str, Any], schema: str = "marts", **fields: Any
) -> dict[str, Any]:
    """A model node whose ``meta.publish`` is ``block`` less its ``primary_key``, which dbt
    carries as the model's primary_key constraint (the one declaration of the key)."""
    publish = {k: v for k, v in block.items() if k != "primary_key"}
    name = unique_id.rsplit(".", 1)[-1]
    return {
        "unique_id": unique_id,
        "resource_type": "model",
        "name": name,
        "alias": name,
        "schema": schema,
        "config": {"meta": {"publish": publish}},
        "constraints": [{"type": "primary_key", "columns": list(block["primary_key"])}],
        **fields,
    }

"""How the loader recognises the generated sample when no pseudonym key is set (decision 0012).

Without ``CTE_PSEUDONYM_KEY`` the only key is the public development key, with which every
9-digit student ID can be recovered by brute force. So without a key only the generator's
own files load: the generator records the SHA-256 of every file it writes in
``<landing>/../generated/sample_files.json`` (beside ``truth.json``), and the loader admits a
file only when its SHA-256 is listed there. A real file cannot be listed by accident: its
bytes would have to equal a generated file's.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from dagster_project.ingest.landing import sha256_of

REGISTRY_NAME = "sample_files.json"


def registry_path(landing_dir: Path) -> Path:
    return Path(landing_dir).parent / "generated" / REGISTRY_NAME


def sample_hashes(landing_dir: Path) -> frozenset[str]:
    path = registry_path(landing_dir)
    if not path.exists():
        return frozenset()
    return frozenset(json.loads(path.read_text())["sha256"])


def register_sample_files(landing_dir: Path, paths: Iterable[Path]) -> None:
    """Add files the generator wrote (or copied from its output) to the registry."""
    path = registry_path(landing_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    hashes = set(sample_hashes(landing_dir)) | {sha256_of(Path(p)) for p in paths}
    note = "SHA-256 of files written by the sample generator: loadable without CTE_PSEUDONYM_KEY"
    path.write_text(json.dumps({"note": note, "sha256": sorted(hashes)}, indent=1) + "\n")

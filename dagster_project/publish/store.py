"""The published snapshots on disk: one pointer, ``current``, says which one analysts see.

Layout of ``published_dir``::

    cte_marts.duckdb -> current/cte_marts.duckdb   the DuckDB door (fixed symlink)
    parquet -> current/parquet                     the Parquet door (fixed symlink)
    current -> versions/<version>                  the one switch
    versions/<version>/cte_marts.duckdb            a snapshot
    versions/<version>/parquet/<table>.parquet     the same rows, one file per table
    versions/<version>/partitions.parquet          fingerprints of the partitions it was
                                                   suppressed in (staging.py; no values)
    .publish.lock                                  serializes publishes and rollbacks (flock)
    .rollback                                      a rollback under way (its intent)

Both doors go through ``current``, so they always show the same snapshot: a commit writes
the version under a dot-name, fsyncs it, renames it into ``versions/`` and then replaces
``current`` (a staged symlink, ``os.replace``, fsync of the folder) – one atomic rename. A
reader holding a file keeps its open inode; one opening afterwards gets the new version.

A rollback first writes its intent (the version it withdraws and the one it brings back),
then switches and removes the withdrawn version; a rollback or publish that finds the intent
finishes that rollback, so a retried crashed rollback does not go one further back.

Anything killed half-way leaves dot-names and versions newer than ``current``; the next
publish or rollback removes them (:func:`recover`). A folder in the layout before issue 23
(a real ``cte_marts.duckdb``, ``history/``, ``parquet_versions/``) is converted by
:func:`recover` too, with the doors open throughout (decision 0018).
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from dagster_project.publish.spec import quote_identifier

log = logging.getLogger(__name__)

PUBLISHED_FILE = "cte_marts.duckdb"
PARQUET_DIR = "parquet"
FINGERPRINTS_FILE = "partitions.parquet"
CURRENT_LINK = "current"
VERSIONS_DIR = "versions"
LOCK_FILE = ".publish.lock"
ROLLBACK_INTENT = ".rollback"
# The layout before issue 23, converted by recover().
_OLD_HISTORY = "history"
_OLD_PARQUET_VERSIONS = "parquet_versions"
_OLD_FINGERPRINTS_SUFFIX = ".chunks.parquet"


class PublishError(RuntimeError):
    """The publish stopped; the previous snapshot is untouched."""


@dataclass(frozen=True)
class RolledBack:
    """Versions (``<published at>-<snapshot id prefix>``) on either side of a rollback."""

    current: str  # the earlier snapshot, current again
    withdrawn: str  # the snapshot that was current, now removed


# --- files ------------------------------------------------------------------------------


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        path.unlink(missing_ok=True)
    elif path.is_dir():
        shutil.rmtree(path, ignore_errors=True)


def _point(link: Path, target: Path) -> None:
    """Make ``link`` a symlink to ``target`` in one rename, whatever it was before."""
    staged = link.parent / f".{link.name}.{uuid.uuid4().hex}.link"
    os.symlink(target, staged)
    os.replace(staged, link)
    fsync(link.parent)


@contextmanager
def lock(published_dir: Path, timeout: float) -> Iterator[None]:
    """Hold the publish lock; flock is released by the kernel if the holder dies."""
    published_dir.mkdir(parents=True, exist_ok=True)
    with open(published_dir / LOCK_FILE, "a+") as handle:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise PublishError("another publish has held the lock too long") from None
                time.sleep(0.2)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


# --- versions ---------------------------------------------------------------------------


def version_dir(published_dir: Path, version: str) -> Path:
    return published_dir / VERSIONS_DIR / version


def staging_dir(published_dir: Path, version: str) -> Path:
    """Where a publish writes a version before :func:`commit`; a dot-name no reader lists."""
    return published_dir / VERSIONS_DIR / f".{version}.tmp"


def current_version(published_dir: Path) -> str | None:
    link = published_dir / CURRENT_LINK
    return Path(os.readlink(link)).name if link.is_symlink() else None


def _versions(published_dir: Path) -> list[str]:
    """Every whole version, oldest first (names sort by time)."""
    folder = published_dir / VERSIONS_DIR
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith(".") and p.is_dir())


def _discard(published_dir: Path, version: str) -> None:
    """Remove a version; renamed to a dot-name first, so a half-removed one is a leftover."""
    path = version_dir(published_dir, version)
    if not path.exists():
        return
    doomed = path.with_name(f".{version}.{uuid.uuid4().hex}.removed")
    os.replace(path, doomed)
    shutil.rmtree(doomed)


def _switch(published_dir: Path, version: str) -> None:
    """Point ``current`` at ``version``: the one rename that moves both doors."""
    if not version_dir(published_dir, version).is_dir():
        raise PublishError(f"version {version} is not in {published_dir / VERSIONS_DIR}")
    _point(published_dir / CURRENT_LINK, Path(VERSIONS_DIR) / version)


def _open_doors(published_dir: Path) -> None:
    """The fixed symlinks analysts use, once ``current`` exists (replacing the old layout's
    real file and folder link in one rename each)."""
    for name in (PUBLISHED_FILE, PARQUET_DIR):
        door, target = published_dir / name, Path(CURRENT_LINK) / name
        if door.is_symlink() and Path(os.readlink(door)) == target:
            continue
        if door.is_dir() and not door.is_symlink():
            raise PublishError(f"{door} must be a symlink managed by publish, found a folder")
        _point(door, target)


def commit(published_dir: Path, version: str) -> None:
    """Make the staged version (written and fsynced in :func:`staging_dir`) current."""
    versions = published_dir / VERSIONS_DIR
    os.replace(staging_dir(published_dir, version), versions / version)
    fsync(versions)
    _switch(published_dir, version)
    _open_doors(published_dir)


def prune(published_dir: Path, keep: int) -> None:
    """Keep the current version and the ``keep`` before it."""
    current = current_version(published_dir)
    older = [v for v in _versions(published_dir) if current is None or v < current]
    for version in older[: max(0, len(older) - keep)]:
        _discard(published_dir, version)


def fingerprints_of(published_dir: Path) -> tuple[str, Path, Path] | None:
    """The current version, its DuckDB file and its partition fingerprints (staging.py)."""
    current = current_version(published_dir)
    if current is None:
        return None
    folder = version_dir(published_dir, current)
    return current, folder / PUBLISHED_FILE, folder / FINGERPRINTS_FILE


def write_parquet(database: Path, target: Path, tables: Sequence[str]) -> None:
    """The Parquet door of a version, exported from its DuckDB file (the same rows)."""
    target.mkdir(parents=True)
    con = duckdb.connect(str(database), read_only=True)
    try:
        for name in tables:
            out = str(target / f"{name}.parquet").replace("'", "''")
            con.execute(f"copy {quote_identifier(name)} to '{out}' (format parquet)")
    finally:
        con.close()
    for file in target.iterdir():
        fsync(file)
    fsync(target)


# --- recovery ---------------------------------------------------------------------------


def recover(published_dir: Path) -> RolledBack | None:
    """Bring the folder to a whole state (hold the lock): convert the old layout, finish a
    crashed rollback (returned), remove what a killed publish left."""
    (published_dir / VERSIONS_DIR).mkdir(parents=True, exist_ok=True)
    _migrate(published_dir)
    finished = _finish_rollback(published_dir)
    if finished is not None:
        log.warning(
            "finished an interrupted rollback: %s current, %s withdrawn",
            finished.current,
            finished.withdrawn,
        )
    for leftover in published_dir.glob(".*"):
        if leftover.name not in (LOCK_FILE, ROLLBACK_INTENT):
            remove(leftover)
    for leftover in (published_dir / VERSIONS_DIR).glob(".*"):
        remove(leftover)
    current = current_version(published_dir)
    if current is not None:
        # Newer versions never became current: their publish died before its switch.
        for version in _versions(published_dir):
            if version > current:
                _discard(published_dir, version)
        _open_doors(published_dir)
    return finished


def rollback(published_dir: Path, lock_timeout: float = 600.0) -> RolledBack:
    """Make the snapshot before the current one current again.

    The withdrawn snapshot is removed, so a second rollback goes further back; a rollback
    that finds an earlier one unfinished finishes it and returns what that one would have.
    Raises PublishError, changing nothing, when there is no earlier snapshot.
    """
    published_dir = Path(published_dir)
    if not (published_dir / PUBLISHED_FILE).exists():
        raise PublishError(f"nothing is published in {published_dir}")
    with lock(published_dir, lock_timeout):
        finished = recover(published_dir)
        if finished is not None:
            return finished
        current = current_version(published_dir)
        older = [v for v in _versions(published_dir) if current is not None and v < current]
        if current is None or not older:
            raise PublishError("no earlier snapshot in history to roll back to")
        _write_intent(published_dir, RolledBack(current=older[-1], withdrawn=current))
        finished = _finish_rollback(published_dir)
        assert finished is not None
        return finished


def _write_intent(published_dir: Path, intent: RolledBack) -> None:
    staged = published_dir / f"{ROLLBACK_INTENT}.{uuid.uuid4().hex}.tmp"
    staged.write_text(json.dumps({"current": intent.current, "withdrawn": intent.withdrawn}))
    fsync(staged)
    os.replace(staged, published_dir / ROLLBACK_INTENT)
    fsync(published_dir)


def _finish_rollback(published_dir: Path) -> RolledBack | None:
    """Carry out the rollback whose intent is on disk; each step may have been done."""
    intent_file = published_dir / ROLLBACK_INTENT
    if not intent_file.exists():
        return None
    intent = RolledBack(**json.loads(intent_file.read_text()))
    if current_version(published_dir) != intent.current:
        _switch(published_dir, intent.current)
    _discard(published_dir, intent.withdrawn)
    intent_file.unlink()
    fsync(published_dir)
    return intent


# --- the layout before issue 23 ---------------------------------------------------------


def _migrate(published_dir: Path) -> None:
    """Convert the old layout: copy (hard links) its snapshots into ``versions/``, switch,
    then replace the real file and the Parquet link by the doors. A reader finds the same
    snapshot at the two paths before, during and after."""
    history = published_dir / _OLD_HISTORY
    old_file = published_dir / PUBLISHED_FILE
    if not history.is_dir():
        return
    current = _old_current(published_dir) if old_file.is_file() else None
    if current is None and old_file.is_file() and not old_file.is_symlink():
        current = _version_from_snapshot(old_file)
        (history / f"{current}.duckdb").unlink(missing_ok=True)
        os.link(old_file, history / f"{current}.duckdb")
    for entry in sorted(history.glob("*.duckdb")):
        version = entry.name.removesuffix(".duckdb")
        # Newer ones never became current: their publish died before its swap.
        if (current is None or version <= current) and not version_dir(
            published_dir, version
        ).exists():
            _migrate_version(published_dir, version)
    if current is not None:
        _switch(published_dir, current)
        _open_doors(published_dir)
    shutil.rmtree(history)
    shutil.rmtree(published_dir / _OLD_PARQUET_VERSIONS, ignore_errors=True)


def _old_current(published_dir: Path) -> str | None:
    """The history entry that is the same file as the old layout's current snapshot."""
    for entry in (published_dir / _OLD_HISTORY).glob("*.duckdb"):
        if os.path.samefile(entry, published_dir / PUBLISHED_FILE):
            return entry.name.removesuffix(".duckdb")
    return None


def _version_from_snapshot(database: Path) -> str:
    """A version name as publish gives it, from the snapshot's own ``snapshot`` row."""
    con = duckdb.connect(str(database), read_only=True)
    try:
        snapshot_id, published_at = con.execute(
            "select snapshot_id, published_at from snapshot"
        ).fetchone()
    finally:
        con.close()
    # A naive value is UTC as written; an aware one comes in the session's time zone.
    stamp: datetime = published_at.astimezone(UTC) if published_at.tzinfo else published_at
    return f"{stamp:%Y%m%dT%H%M%S%fZ}-{snapshot_id[:8]}"


def _migrate_version(published_dir: Path, version: str) -> None:
    history = published_dir / _OLD_HISTORY
    staged = staging_dir(published_dir, version)
    remove(staged)
    staged.mkdir()
    os.link(history / f"{version}.duckdb", staged / PUBLISHED_FILE)
    sidecar = history / f"{version}{_OLD_FINGERPRINTS_SUFFIX}"
    if sidecar.exists():
        os.link(sidecar, staged / FINGERPRINTS_FILE)
    old_parquet = published_dir / _OLD_PARQUET_VERSIONS / version
    if old_parquet.is_dir():
        (staged / PARQUET_DIR).mkdir()
        for file in old_parquet.iterdir():
            os.link(file, staged / PARQUET_DIR / file.name)
    else:
        write_parquet(staged / PUBLISHED_FILE, staged / PARQUET_DIR, _tables(staged))
    fsync(staged)
    os.replace(staged, version_dir(published_dir, version))
    fsync(published_dir / VERSIONS_DIR)


def _tables(folder: Path) -> list[str]:
    con = duckdb.connect(str(folder / PUBLISHED_FILE), read_only=True)
    try:
        return [r[0] for r in con.execute("select table_name from duckdb_tables()").fetchall()]
    finally:
        con.close()

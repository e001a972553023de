"""Resource limits: a .csv.gz is decompressed as a stream and rejected past its limits."""

from __future__ import annotations

import gzip
import tracemalloc
from pathlib import Path

import pytest

from dagster_project.contracts import get_extract
from dagster_project.ingest.landing import landing_path, parse_file_name
from dagster_project.ingest.reader import FileRejected, read_landed_file
from dagster_project.ingest.reasons import FileReason
from dagster_project.settings import GzipLimits, get_settings

EXTRACT = get_extract("cte_course_enrollment")
HEADER = ",".join(EXTRACT.column_names)
ROW = "123456789,001,010,2024,AG101,S1,Y,0.5,N"


def _gz(tmp_path: Path, content: bytes) -> Path:
    folder = landing_path(tmp_path, EXTRACT)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "cte_course_enrollment__001__2024__20240615T103000.csv.gz"
    path.write_bytes(gzip.compress(content, 9))
    return path


def test_a_plain_gzip_file_loads(tmp_path):
    parsed = read_landed_file(parse_file_name(_gz(tmp_path, f"{HEADER}\n{ROW}\n".encode())))
    assert parsed.frame.height == 1


def test_a_gzip_bomb_is_rejected_early_without_expanding(tmp_path):
    # 128 MB of newlines after the header compress to about 125 KB (ratio ~1000).
    path = _gz(tmp_path, f"{HEADER}\n{ROW}\n".encode() + b"\n" * (128 << 20))
    assert path.stat().st_size < 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(FileRejected) as caught:
            read_landed_file(parse_file_name(path))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert caught.value.reason is FileReason.TOO_LARGE
    assert "CTE_GZIP_MAX_RATIO" in caught.value.message
    assert peak < 48 << 20  # stopped near the 16 MiB floor, never expanded to 128 MB


def test_the_size_limit_is_configurable(tmp_path, monkeypatch):
    monkeypatch.setenv("CTE_GZIP_MAX_BYTES", "1000")
    monkeypatch.setenv("CTE_GZIP_MAX_RATIO", "7")
    limits = get_settings().gzip_limits
    assert (limits.max_bytes, limits.max_ratio) == (1000, 7)
    path = _gz(tmp_path, f"{HEADER}\n".encode() + f"{ROW}\n".encode() * 100)
    with pytest.raises(FileRejected) as caught:
        read_landed_file(parse_file_name(path), limits)
    assert caught.value.reason is FileReason.TOO_LARGE
    assert "CTE_GZIP_MAX_BYTES" in caught.value.message


def test_the_ratio_limit_applies_past_its_floor_only(tmp_path):
    content = f"{HEADER}\n".encode() + f"{ROW}\n".encode() * 2000  # ~80 KB, very repetitive
    path = _gz(tmp_path, content)
    strict = GzipLimits(max_ratio=2, ratio_floor=10_000)
    with pytest.raises(FileRejected, match="times"):
        read_landed_file(parse_file_name(path), strict)
    lenient = GzipLimits(max_ratio=2, ratio_floor=1 << 20)
    assert read_landed_file(parse_file_name(path), lenient).frame.height == 2000


def test_a_corrupt_gzip_is_unreadable_and_its_error_text_is_not_shown(tmp_path):
    folder = landing_path(tmp_path, EXTRACT)
    folder.mkdir(parents=True)
    path = folder / "cte_course_enrollment__001__2024__20240615T103000.csv.gz"
    path.write_bytes(b"\x1f\x8b" + b"123456789 not gzip at all")
    with pytest.raises(FileRejected) as caught:
        read_landed_file(parse_file_name(path))
    assert caught.value.reason is FileReason.UNREADABLE
    assert "123456789" not in caught.value.message

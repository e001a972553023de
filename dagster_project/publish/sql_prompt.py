"""A read-only SQL prompt on the published snapshot (``cte sql`` / ``make sql``).

The ``duckdb`` command-line shell is not installed (the snapshot is written in a storage
format it opens from 1.0 on, decision 0017), so this is a small REPL over the Python API:
the door that needs no install. The file is opened read-only: a reader can never lock the
snapshot against the next publish or change it.

The connection sees the published snapshot and nothing else (issue 23): without these
settings a reader could `read_csv` the raw landing files (names, IDs, birth dates),
`ATTACH` the working warehouse, write files with `COPY ... TO`, or fetch an extension from
the internet. The configuration is locked so that `SET` cannot undo any of it.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

import duckdb

HELP = """\
Statements end with ';' and may span lines. Commands:
  .tables            list the published tables
  .schema TABLE      columns of a table with their descriptions
  .maxrows N         how many rows to print (default 40)
  .help              this text
  .quit              leave (or Ctrl-D)
Start with:  select * from snapshot;   select * from catalog where column_name is null;
"""


# No file, URL or database but the snapshot; no extension installed or loaded on demand.
LOCKED_DOWN: dict[str, str | bool] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def connect_published(published_path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection on the snapshot that can reach nothing else."""
    return duckdb.connect(str(published_path), read_only=True, config=dict(LOCKED_DOWN))


class _Prompt:
    def __init__(self, con: duckdb.DuckDBPyConnection, out: TextIO) -> None:
        self.con, self.out, self.max_rows = con, out, 40

    def print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()

    def command(self, line: str) -> bool:
        """Run a dot-command; False means quit."""
        word, _, arg = line.strip().partition(" ")
        if word in (".quit", ".exit", ".q"):
            return False
        if word == ".tables":
            self.query("select table_name from information_schema.tables order by 1")
        elif word == ".schema" and arg:
            self.query(
                "select c.column_name, c.data_type, k.description "
                "from information_schema.columns c left join catalog k "
                "on k.table_name = c.table_name and k.column_name = c.column_name "
                f"where c.table_name = '{arg.strip().replace(chr(39), '')}' "
                "order by c.ordinal_position"
            )
        elif word == ".maxrows" and arg.strip().isdigit():
            self.max_rows = int(arg)
        else:
            self.print(HELP)
        return True

    def query(self, sql: str) -> None:
        try:
            relation = self.con.sql(sql)
        except duckdb.Error as exc:
            self.print(f"Error: {exc}")
            return
        if relation is None:
            self.print("OK")
            return
        try:
            self.print(relation.limit(self.max_rows + 1).pl().__repr__())
        except duckdb.Error as exc:
            self.print(f"Error: {exc}")


def _formatting() -> None:
    import polars as pl

    pl.Config.set_tbl_rows(60)
    pl.Config.set_tbl_cols(30)
    pl.Config.set_fmt_str_lengths(60)
    pl.Config.set_tbl_hide_dataframe_shape(True)


def _read_line(stdin: TextIO, interactive: bool, prompt: str) -> str | None:
    """One line with its newline, or None at end of input."""
    if not interactive:
        return stdin.readline() or None
    import readline  # noqa: F401  (line editing and history for input())

    try:
        return input(prompt) + "\n"
    except EOFError:
        return None


def open_sql_prompt(
    published_path: Path, stdin: TextIO | None = None, stdout: TextIO | None = None
) -> None:
    """Read statements from stdin until .quit or end of input, print each result."""
    stdin, stdout = stdin or sys.stdin, stdout or sys.stdout
    published_path = Path(published_path)
    if not published_path.exists():
        raise FileNotFoundError(f"no published snapshot at {published_path}: run `cte run` first")
    _formatting()
    interactive = stdin.isatty()
    con = connect_published(published_path)
    prompt = _Prompt(con, stdout)
    if interactive:
        prompt.print(f"{published_path} (read-only). Type .help for commands.")
    buffer: list[str] = []
    try:
        while True:
            line = _read_line(stdin, interactive, "cte> " if not buffer else "...> ")
            if line is None:
                break
            if not buffer and line.strip().startswith("."):
                if not prompt.command(line):
                    break
                continue
            buffer.append(line)
            if line.rstrip().endswith(";"):
                prompt.query("".join(buffer))
                buffer.clear()
        if "".join(buffer).strip():
            prompt.query("".join(buffer))
    finally:
        con.close()

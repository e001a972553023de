"""Do the analyst guide's questions get answers from the snapshot? (issue 15, part 3)

Each numbered question of docs/analyst-guide.md is run on a published snapshot. The result
of its last SQL statement is the answer, and the columns its ``-- answer:`` line names are
the figures a reader came for. An answer with no row, or whose figures are null in every
row, is an all-null answer: the snapshot withholds what the question asks. Questions
without an ``-- answer:`` line (what the snapshot is, what a column means) only have to run.

    python -m benchmarks.analyst_answers --snapshot PATH/cte_marts.duckdb

Exits 1 on an all-null answer. The Parquet examples read paths from the project root, so
run it from there.
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import duckdb

from dagster_project.publish.suppression import WITHHELD_DISPLAY

GUIDE = Path(__file__).resolve().parent.parent / "docs" / "analyst-guide.md"
_QUESTION = re.compile(r"^\*\*(\d+)\. (.+?)(?:\*\*|$)", re.M)
# Where a question's section ends: the next bold line or heading.
_SECTION_END = re.compile(r"^(?:\*\*|#)", re.M)
_SQL = re.compile(r"```sql\n(.*?)```", re.S)
_ANSWER = re.compile(r"^\s*-- answer: (.+)$", re.M)


@dataclass(frozen=True)
class Question:
    number: int
    title: str
    statements: tuple[str, ...]
    answer_columns: tuple[str, ...]  # empty: the question only has to run


@dataclass(frozen=True)
class Answer:
    question: Question
    rows: int
    figures: int  # cells of the answer columns
    shown: int  # of them, not null

    @property
    def all_null(self) -> bool:
        return bool(self.question.answer_columns) and self.shown == 0


def guide_questions(guide: Path = GUIDE) -> list[Question]:
    """The numbered questions with SQL, in the guide's order."""
    text = guide.read_text()
    questions = []
    for here in _QUESTION.finditer(text):
        after = _SECTION_END.search(text, here.end())
        section = text[here.start() : after.start() if after else len(text)]
        sql = "\n".join(_SQL.findall(section))
        statements = tuple(s for s in sql.split(";") if s.strip())
        if not statements:
            continue
        declared = _ANSWER.search(statements[-1])
        columns = tuple(c.strip() for c in declared.group(1).split(",")) if declared else ()
        questions.append(Question(int(here.group(1)), here.group(2), statements, columns))
    return questions


def answer(con: duckdb.DuckDBPyConnection, question: Question) -> Answer:
    for statement in question.statements[:-1]:
        con.execute(statement).fetchall()
    result = con.execute(question.statements[-1])
    names = [d[0] for d in result.description]
    rows = result.fetchall()
    if missing := set(question.answer_columns) - set(names):
        raise ValueError(f"question {question.number}: no column {sorted(missing)} in its answer")
    index = [names.index(c) for c in question.answer_columns]
    shown = sum(_shown(row[i]) for row in rows for i in index)
    return Answer(question, len(rows), len(rows) * len(index), shown)


def _shown(value: object) -> bool:
    """A figure a reader gets: not null, and no display saying it is withheld."""
    return value is not None and not (isinstance(value, str) and value.startswith(WITHHELD_DISPLAY))


def answers(snapshot: Path, guide: Path = GUIDE) -> list[Answer]:
    with duckdb.connect(str(snapshot), read_only=True) as con:
        return [answer(con, q) for q in guide_questions(guide)]


def report(results: list[Answer]) -> str:
    lines = ["| question | rows | figures shown | |", "|---|---|---|---|"]
    for a in results:
        figures = f"{a.shown:,} of {a.figures:,}" if a.question.answer_columns else "(runs)"
        flag = "ALL NULL" if a.all_null else ""
        title = f"{a.question.number}. {a.question.title[:60]}"
        lines.append(f"| {title} | {a.rows:,} | {figures} | {flag} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.analyst_answers")
    parser.add_argument("--snapshot", type=Path, required=True, help="published cte_marts.duckdb")
    args = parser.parse_args(argv)
    results = answers(args.snapshot)
    print(report(results))
    if any(a.all_null for a in results):
        sys.exit(1)


if __name__ == "__main__":
    main()

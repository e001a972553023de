"""A local Ed-Fi ODS/API for the tests: OAuth2 client credentials, offset/limit paging with
Total-Count, availableChangeVersions, min/maxChangeVersion and /deletes, in the shapes of
ODS/API 7 (Data Standard 5). Every write bumps the change version, as the ODS does. A
resource of an extension namespace is kept and served as ``<namespace>/<resource>``
(``/data/v3/nmped/...``)."""

from __future__ import annotations

import base64
import itertools
import json
import threading
from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

CLIENT_ID, CLIENT_SECRET = "cte-warehouse", "s3cret-for-tests"
YEAR = 2025
KEY = b"edfi-test-key"
DATA = "/data/v3/"
# The Data Standard's API schema of the resources the project reads (README beside it).
SCHEMA_FILE = Path(__file__).parent / "fixtures" / "edfi_schema" / "ds-5.2-resources.json"
# An identity path whose key value the ODS names after its reference's role (the ODS/API's
# 5.2.0 tables: GeneralStudentProgramAssociation.ProgramEducationOrganizationId,
# CourseTranscript.CourseEducationOrganizationId); every other one is named by its last
# segment, and two paths of one name hold one value (CourseOffering's SchoolId).
ROLE_NAMED_KEYS = {
    "$.programReference.educationOrganizationId": "programEducationOrganizationId",
    "$.courseReference.educationOrganizationId": "courseEducationOrganizationId",
}


@dataclass
class FakeOds:
    version: int = 0
    records: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    deletes: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    tokens: set[str] = field(default_factory=set)
    served: dict[str, int] = field(default_factory=dict)  # records served per route
    requests: list[str] = field(default_factory=list)  # routes requested
    # (route, minChangeVersion, maxChangeVersion) of each GET of records or deletes
    windows: list[tuple[str, int | None, int | None]] = field(default_factory=list)
    # GET number (1 = the first) -> the HTTP status to answer it with; 401 also revokes
    # every token (an expired token).
    failures: dict[int, int] = field(default_factory=dict)
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1))
    # resource -> (change versions, records as served), in change version order: built on
    # the first GET after a write, so a page costs a bisection, not a sort (state scale)
    _served: dict[str, tuple[list[int], list[dict[str, Any]]]] = field(default_factory=dict)

    @classmethod
    def holding(cls, records: dict[str, list[dict[str, Any]]]) -> FakeOds:
        """An ODS holding ``records`` (resource -> records), each written once."""
        ods = cls()
        for resource, items in records.items():
            for record in items:
                ods.put(resource, record)
        return ods

    def put(self, resource: str, record: dict[str, Any]) -> dict[str, Any]:
        """Create or update a record (same id): it gets the next change version."""
        self.version += 1
        record = {"id": record.get("id") or f"{next(self._ids):032x}", **record}
        record["_changeVersion"] = self.version  # kept out of what is served
        self.records.setdefault(resource, {})[record["id"]] = record
        self._served.pop(resource, None)
        return record

    def delete(self, resource: str, record_id: str) -> None:
        self.version += 1
        gone = self.records[resource].pop(record_id)
        self._served.pop(resource, None)
        self.deletes.setdefault(resource, []).append(
            {
                "id": record_id,
                "changeVersion": self.version,
                "keyValues": key_values(resource, gone),
            }
        )

    def changed(self, resource: str, query: dict[str, list[str]]) -> list[dict[str, Any]]:
        """The resource's records whose change version is in the query's window, oldest
        change first, without the change version."""
        if resource not in self._served:
            ordered = sorted(self.records.get(resource, {}).values(), key=_version)
            self._served[resource] = (
                [_version(r) for r in ordered],
                [{k: v for k, v in r.items() if k != "_changeVersion"} for r in ordered],
            )
        versions, served = self._served[resource]
        low, high = _bounds(query)
        return served[bisect_left(versions, low) : bisect_right(versions, high)]


def _version(record: dict[str, Any]) -> int:
    return record["_changeVersion"]


@cache
def resource_schemas() -> dict[str, dict[str, Any]]:
    """resource -> its ``resourceName``, ``identityJsonPaths`` and ``jsonSchemaForInsert``."""
    return json.loads(SCHEMA_FILE.read_text())["resourceSchemas"]


def key_name(path: str) -> str:
    """The name of an identity path's value in a delete's ``keyValues``."""
    return ROLE_NAMED_KEYS.get(path, path.rsplit(".", 1)[-1])


def key_values(resource: str, record: dict[str, Any]) -> dict[str, Any]:
    """A deleted record's ``keyValues`` as the ODS/API serves them: its identity, flat (one
    value per identity property, ``key_name``). A resource without a schema here (New
    Mexico's extension) gets its references, as they are."""
    schema = resource_schemas().get(resource)
    if schema is None:
        return {k: v for k, v in record.items() if k.endswith("Reference")}
    keys: dict[str, Any] = {}
    for path in schema["identityJsonPaths"]:
        value: Any = record
        for step in path.removeprefix("$.").split("."):
            value = value[step]
        keys[key_name(path)] = value
    return keys


def _bounds(query: dict[str, list[str]]) -> tuple[int, int]:
    low = int(query.get("minChangeVersion", ["0"])[0])
    high = int(query.get("maxChangeVersion", [str(1 << 62)])[0])
    return low, high


def _window(query: dict[str, list[str]], version: int) -> bool:
    low, high = _bounds(query)
    return low <= version <= high


def _given(query: dict[str, list[str]], name: str) -> int | None:
    return int(query[name][0]) if name in query else None


def serve(ods: FakeOds) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # quiet
            pass

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            form = parse_qs(self.rfile.read(length).decode())
            expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
            if urlsplit(self.path).path != "/oauth/token":
                return self._send(404, {"message": "not found"})
            if self.headers.get("Authorization") != f"Basic {expected}" or form.get(
                "grant_type"
            ) != ["client_credentials"]:
                return self._send(401, {"error": "invalid_client"})
            token = f"token-{len(ods.tokens) + 1}"
            ods.tokens.add(token)
            self._send(200, {"access_token": token, "expires_in": 1800, "token_type": "bearer"})

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            query = parse_qs(url.query)
            ods.requests.append(url.path)
            if self.headers.get("Authorization", "").removeprefix("Bearer ") not in ods.tokens:
                return self._send(401, {"message": "Authorization denied."})
            status = ods.failures.pop(len(ods.requests), None)
            if status == 401:
                ods.tokens.clear()
            if status is not None:
                # An ODS error body quotes the request's record: the client must not repeat it.
                return self._send(status, {"message": "failed on Zelda Quintana 900000001"})
            if url.path == "/changeQueries/v1/availableChangeVersions":
                return self._send(
                    200, {"oldestChangeVersion": 0, "newestChangeVersion": ods.version}
                )
            if not url.path.startswith(DATA):
                return self._send(404, {"message": "not found"})
            namespace, _, rest = url.path.removeprefix(DATA).partition("/")
            resource, _, tail = rest.partition("/")
            if namespace != "ed-fi":
                resource = f"{namespace}/{resource}"
            ods.windows.append(
                (url.path, _given(query, "minChangeVersion"), _given(query, "maxChangeVersion"))
            )
            if tail == "deletes":
                items = [
                    d for d in ods.deletes.get(resource, []) if _window(query, d["changeVersion"])
                ]
            else:
                items = ods.changed(resource, query)
            offset, limit = int(query.get("offset", ["0"])[0]), int(query.get("limit", ["25"])[0])
            page = items[offset : offset + limit]
            ods.served[url.path] = ods.served.get(url.path, 0) + len(page)
            headers = (
                {"Total-Count": str(len(items))} if query.get("totalCount") == ["true"] else {}
            )
            self._send(200, page, headers)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


# A special population's program association resource -> its Data Standard program type
# (ProgramTypeDescriptor code value) and the fields the Data Standard requires beside the
# GeneralStudentProgramAssociation's (StudentMigrantEducationProgramAssociation: priority
# for services, last qualifying move).
PROGRAMS: dict[str, tuple[str, dict[str, Any]]] = {
    "studentSpecialEducationProgramAssociations": ("Special Education", {"ideaEligibility": True}),
    "studentMigrantEducationProgramAssociations": (
        "Migrant Education",
        {"priorityForServices": False, "lastQualifyingMove": "2023-06-01"},
    ),
    "studentLanguageInstructionProgramAssociations": (
        "English as a Second Language (ESL)",
        {"englishLearnerParticipation": True},
    ),
    "studentHomelessProgramAssociations": ("Homeless", {"homelessUnaccompaniedYouth": False}),
}


def special_program_association(
    resource: str, student: str, organization_id: int, begin: str, end: str | None = None
) -> dict[str, Any]:
    """A student's association with a special population's program (``PROGRAMS``) at a
    district or school (``organization_id``), as ODS/API 7 serves it: the program is the
    state's (education organization 35), named by its type."""
    program_type, required = PROGRAMS[resource]
    record: dict[str, Any] = {
        "beginDate": begin,
        "educationOrganizationReference": {"educationOrganizationId": organization_id},
        "programReference": {
            "educationOrganizationId": 35,
            "programName": program_type,
            "programTypeDescriptor": f"uri://ed-fi.org/ProgramTypeDescriptor#{program_type}",
        },
        "studentReference": {"studentUniqueId": student},
        **required,
    }
    if end is not None:
        record["endDate"] = end
    return record


def text_of(con, table: str) -> str:
    """A table's rows as one string, to search for values that must not be there."""
    return json.dumps(con.execute(f"select * from {table}").fetchall(), default=str)


def said_after_pull(con, extract_name: str, log_text: str) -> str:
    """What the load's tables and the log say after a pull of one extract: no name or student
    unique ID may be in it."""
    tables = ("raw.load_manifest", "raw.quarantine", "raw.edfi_pulls", f"raw.{extract_name}")
    return " ".join([text_of(con, t) for t in tables] + [log_text])


def pull(con, url: str, landing, family=None, page_size: int = 4, retries: int = 0, year=YEAR):
    """One pull of ``family`` (student_enrollment by default) for ``year`` (YEAR by default)
    from the fake at ``url`` into ``con``, landing under ``landing``."""
    from dagster_project.ingest.edfi.client import EdFiClient
    from dagster_project.ingest.edfi.mapping import STUDENT_ENROLLMENT
    from dagster_project.ingest.edfi.pull import pull_school_year
    from dagster_project.ingest.loader import Loader
    from dagster_project.settings import EdFiSettings

    settings = EdFiSettings(url, CLIENT_ID, CLIENT_SECRET, page_size=page_size)
    with EdFiClient(settings, year, retries=retries, backoff_seconds=0) as client:
        return pull_school_year(
            client,
            Loader(con, landing, KEY),
            landing / "edfi",
            year,
            family=family or STUDENT_ENROLLMENT,
        )


def first_pull(con, fake: FakeOds, url: str, landing, family=None, loaded=None, **kw):
    """The first pull of ``family`` (``pull``'s arguments): it reads the full window (up to
    the fake's newest change version) and never asks for the students resource (names and
    birth dates); ``loaded`` (district -> rows read), when given, is every submission,
    each LOADED."""
    from dagster_project.ingest.reasons import Status

    result = pull(con, url, landing, family, **kw)
    assert str(result.window) == f"0-{fake.version}"
    assert not any(r.rsplit("/", 1)[-1] == "students" for r in fake.requests)
    if loaded is not None:
        assert [(o.district_code, o.status, o.rows_read) for o in result.outcomes] == [
            (district, Status.LOADED, rows) for district, rows in loaded.items()
        ]
    return result


def next_pull(
    con, fake: FakeOds, url: str, landing, family=None, *, since: int, served: dict, **kw
):
    """A pull after the one that loaded change version ``since`` (``pull``'s arguments): it
    reads the window from the next version to the fake's newest, and the fake serves only
    ``served`` (route -> records; routes that served none left out)."""
    fake.served.clear()
    result = pull(con, url, landing, family, **kw)
    assert str(result.window) == f"{since + 1}-{fake.version}"
    assert {route: n for route, n in fake.served.items() if n} == served
    return result


def configure(monkeypatch, url: str) -> None:
    """The environment of a code location pointed at the fake (as an operator sets it)."""
    monkeypatch.setenv("CTE_EDFI_URL", url)
    monkeypatch.setenv("CTE_EDFI_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("CTE_EDFI_CLIENT_SECRET", CLIENT_SECRET)
    monkeypatch.setenv("CTE_EDFI_SCHOOL_YEAR", str(YEAR))

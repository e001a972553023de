"""The fake ODS/API's records validated against the Data Standard's API schema (issue 18:
"serves the sample generator's students as Ed-Fi JSON, the shapes validated against the
Data Standard's schema documents"; decision 0022, "Validated against the Data Standard").

The tiny sample's four families are served by the fake (tests/edfi_from_sample.py, as the
equivalence test serves them), one record of each resource is deleted, and every page of
every resource and of its ``/deletes`` is read through the project's client, as a pull
reads it. Each record is validated with ``jsonschema`` against the resource's JSON Schema
(tests/fixtures/edfi_schema/, README there: MetaEd's Ed-Fi API schema of Data Standard
5.1.0 with the properties 5.2.0 adds): required properties, types, formats, and no property
the resource does not have. A GET answers what a POST sends plus what the ODS/API adds
(``READ_ONLY``). New Mexico's extension (``nmped/studentCTEProgramAssociationCredentials``)
has no public schema: not validated.

A failure names the resource, the record's position and the field, never a value (a
student unique ID is one).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import re
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import jsonschema
import pytest
from edfi_fake import (
    CLIENT_ID,
    CLIENT_SECRET,
    SCHEMA_FILE,
    FakeOds,
    key_name,
    resource_schemas,
    serve,
)
from edfi_from_sample import ods_records

from dagster_project.ingest.edfi.client import ChangeWindow, EdFiClient
from dagster_project.ingest.edfi.mapping import CREDENTIALS, FAMILIES
from dagster_project.sample_data import generate
from dagster_project.settings import EdFiSettings

SCALE, YEARS, SEED = "tiny", 3, 7  # the equivalence test's sample
PAGE_SIZE = 100  # several pages of most resources
UNVALIDATED = {CREDENTIALS}  # New Mexico's extension: no public schema
Records = dict[str, list[dict[str, Any]]]

# What a GET answers beside the resource's own properties (ODS/API 7: the resource id, and
# the ETag and last-modified date when the API is configured to send them; every
# reference may carry a ``link``).
READ_ONLY = {
    "id": {"type": "string"},
    "_etag": {"type": "string"},
    "_lastModifiedDate": {"type": "string", "format": "date-time"},
}
LINK = {
    "additionalProperties": False,
    "properties": {"rel": {"type": "string"}, "href": {"type": "string"}},
    "type": "object",
}
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})", re.I)


def _date_time(value: object) -> bool:
    """JSON Schema's ``date-time``, RFC 3339 (jsonschema checks it only with an optional
    package this project does not install)."""
    if not isinstance(value, str) or not RFC3339.fullmatch(value):
        return False
    datetime.fromisoformat(value.upper().replace("Z", "+00:00"))  # a real day and time
    return True


FORMATS = jsonschema.FormatChecker()
FORMATS.checks("date-time", raises=ValueError)(_date_time)


def read_schema(insert: dict[str, Any]) -> dict[str, Any]:
    """The schema of a GET's record: the insert schema, with ``READ_ONLY`` at the top and a
    ``link`` allowed in every reference."""
    schema = copy.deepcopy(insert)
    schema["properties"] |= READ_ONLY

    def allow_links(node: Any, name: str = "") -> None:
        if isinstance(node, dict):
            if name.endswith("Reference") and node.get("type") == "object":
                node["properties"]["link"] = LINK
            for key, child in node.items():
                allow_links(child, key if key not in ("properties", "items") else name)
        elif isinstance(node, list):
            for child in node:
                allow_links(child, name)

    for prop, child in schema["properties"].items():
        allow_links(child, prop)
    return schema


def deletes_schema(resource: str) -> dict[str, Any]:
    """A ``/deletes`` item as the ODS/API's OpenAPI metadata describes it (Ed-Fi-ODS
    ``OpenApiMetadataDefinitionsFactory.CreateTrackedChangesDeletesSchema``: ``id`` a
    string, ``changeVersion`` a number, ``keyValues`` the resource's identifying properties,
    flat), each property required (ours: the ODS/API fills them all)."""
    spec = resource_schemas()[resource]
    keys: dict[str, Any] = {}
    for path in spec["identityJsonPaths"]:
        node = spec["jsonSchemaForInsert"]
        for step in path.removeprefix("$.").split("."):
            node = node["properties"][step]
        keys[key_name(path)] = {k: v for k, v in node.items() if k in ("type", "format")}
    return {
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "changeVersion": {"type": "number"},
            "keyValues": {
                "additionalProperties": False,
                "properties": keys,
                "required": sorted(keys),
                "type": "object",
            },
        },
        "required": ["id", "changeVersion", "keyValues"],
        "type": "object",
    }


def validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema, format_checker=FORMATS)


def problems(resource: str, kind: str, items: list[dict[str, Any]]) -> list[str]:
    """What is wrong with ``items``, one line per record and error: the resource, the
    record's position, the field's path and the rule it breaks, no value."""
    check = validator(
        deletes_schema(resource)
        if kind == "deletes"
        else read_schema(resource_schemas()[resource]["jsonSchemaForInsert"])
    )
    found = []
    for i, record in enumerate(items):
        for error in check.iter_errors(record):
            field = error.json_path
            if error.validator == "required":  # one error per missing property: its name
                field = f"{field}.{error.message.split(chr(39))[1]}"
            elif error.validator == "additionalProperties":
                known = set(error.schema.get("properties", {}))
                field = f"{field}.{','.join(sorted(set(error.instance) - known))}"
            found.append(f"{resource} ({kind}) record {i}: {field}: breaks '{error.validator}'")
    return found


# --- the records the fake serves ----------------------------------------------------------


def read_all(url: str, resources: list[str], version: int) -> Iterator[tuple[str, str, list]]:
    """(resource, 'records' or 'deletes', every item of every page), read as a pull reads."""
    settings = EdFiSettings(url, CLIENT_ID, CLIENT_SECRET, page_size=PAGE_SIZE)
    window = ChangeWindow(None, version)
    with EdFiClient(settings, 2025, retries=0, backoff_seconds=0) as client:
        for resource in resources:
            yield resource, "records", list(client.records(resource, window))
            yield resource, "deletes", list(client.deletes(resource, window))


class Served(dict):
    """(resource, kind) -> items; shown by its counts only (pytest shows a failing test's
    arguments: the records hold student unique IDs)."""

    def __repr__(self) -> str:
        return f"Served({ {key: len(items) for key, items in self.items()} })"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    sample = tmp_path_factory.mktemp("schema") / "sample"
    generate(SCALE, YEARS, SEED, sample)
    records, _ = ods_records(sample)
    ods = FakeOds.holding(records)
    for resource in records:  # one delete of each, so every /deletes has an item
        ods.delete(resource, next(iter(ods.records[resource])))
    server, url = serve(ods)
    try:
        return Served(
            {(r, kind): items for r, kind, items in read_all(url, list(records), ods.version)}
        )
    finally:
        server.shutdown()


def test_the_schemas_cover_every_resource_the_pull_reads():
    """Every resource of the four families has its schema here, but New Mexico's extension;
    and each one is the Data Standard's 5.2.0 (5.1.0's document and 5.2.0's additions)."""
    read = {r for family in FAMILIES.values() for r in family.resources}
    assert read - set(resource_schemas()) == UNVALIDATED
    assert set(resource_schemas()) <= read
    for spec in resource_schemas().values():
        jsonschema.Draft202012Validator.check_schema(spec["jsonSchemaForInsert"])


def test_every_served_record_and_delete_has_the_data_standard_shape(served):
    """All the sample's records of the four families, every page, and a delete of each."""
    counts = Counter({key: len(items) for key, items in served.items()})
    validated = {k: n for k, n in counts.items() if k[0] not in UNVALIDATED}
    assert set(validated) == {(r, k) for r in resource_schemas() for k in ("records", "deletes")}
    assert all(n > 0 for n in validated.values()), validated
    found = [
        problem
        for (resource, kind), items in served.items()
        if resource not in UNVALIDATED
        for problem in problems(resource, kind, items)
    ]
    grouped = Counter(re.sub(r" record \d+:", ":", problem) for problem in found)
    assert not found, "\n".join(f"{line} ({n} records)" for line, n in sorted(grouped.items()))


def _sample_record(resource: str) -> dict[str, Any]:
    """A record the schema accepts (checked), to break."""
    return {
        "studentSchoolAssociations": {
            "id": "a1",
            "schoolReference": {"schoolId": 35001010, "link": {"rel": "School", "href": "/x"}},
            "studentReference": {"studentUniqueId": "900000001"},
            "entryDate": "2024-08-12",
            "entryGradeLevelDescriptor": "uri://ed-fi.org/GradeLevelDescriptor#Ninth grade",
            "schoolYearTypeReference": {"schoolYear": 2025},
        },
        "studentAssessments": {
            "studentAssessmentIdentifier": "NM-MSSA-ELA-2025-900000001",
            "assessmentReference": {
                "assessmentIdentifier": "NM-MSSA-ELA",
                "namespace": "uri://nmped.org/Assessment",
            },
            "studentReference": {"studentUniqueId": "900000001"},
            "administrationDate": "2025-04-15T09:00:00Z",
        },
    }[resource]


def _drop(path: str):
    def change(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = record
        for step in parents:
            node = node[step]
        del node[last]

    return change


def _set(path: str, value: Any):
    def change(record: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = record
        for step in parents:
            node = node[step]
        node[last] = value

    return change


BREAKS = {
    "a required reference dropped": (
        "studentSchoolAssociations",
        _drop("studentReference"),
        "$.studentReference: breaks 'required'",
    ),
    "a reference's required key dropped": (
        "studentSchoolAssociations",
        _drop("schoolReference.schoolId"),
        "$.schoolReference.schoolId: breaks 'required'",
    ),
    "a school id as text": (
        "studentSchoolAssociations",
        _set("schoolReference.schoolId", "35001010"),
        "$.schoolReference.schoolId: breaks 'type'",
    ),
    "a date that is not one": (
        "studentSchoolAssociations",
        _set("entryDate", "2024-13-45"),
        "$.entryDate: breaks 'format'",
    ),
    "a field the resource does not have": (
        "studentSchoolAssociations",
        _set("dualCredit", {"dualCreditIndicator": True}),
        "$.dualCredit: breaks 'additionalProperties'",
    ),
    "a date-time given as a date": (
        "studentAssessments",
        _set("administrationDate", "2025-04-15"),
        "$.administrationDate: breaks 'format'",
    ),
}


@pytest.mark.parametrize("case", list(BREAKS))
def test_a_broken_record_fails_validation_naming_the_field_not_the_value(case):
    resource, change, expected = BREAKS[case]
    record = _sample_record(resource)
    assert problems(resource, "records", [record]) == []
    change(record)
    found = problems(resource, "records", [record])
    assert found == [f"{resource} (records) record 0: {expected}"]
    assert "900000001" not in "".join(found)


def test_a_delete_without_its_flat_key_values_fails():
    """ODS/API deletes carry the identity flat (``schoolId``), not the references."""
    ssa = "studentSchoolAssociations"
    good = {
        "id": "a1",
        "changeVersion": 7,
        "keyValues": {"entryDate": "2024-08-12", "schoolId": 35001010, "studentUniqueId": "9"},
    }
    assert problems(ssa, "deletes", [good]) == []
    nested = {**good, "keyValues": {"schoolReference": {"schoolId": 35001010}}}
    assert problems(ssa, "deletes", [nested]) == [
        f"{ssa} (deletes) record 0: $.keyValues.schoolReference: breaks 'additionalProperties'",
        f"{ssa} (deletes) record 0: $.keyValues.entryDate: breaks 'required'",
        f"{ssa} (deletes) record 0: $.keyValues.schoolId: breaks 'required'",
        f"{ssa} (deletes) record 0: $.keyValues.studentUniqueId: breaks 'required'",
    ]


def test_the_vendored_document_is_what_trim_writes():
    """The fixture holds the resources ``trim.py`` keeps, with the 5.2.0 additions."""
    spec = importlib.util.spec_from_file_location("trim", SCHEMA_FILE.with_name("trim.py"))
    trim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(trim)
    document = json.loads(SCHEMA_FILE.read_text())
    assert (document["baseProjectVersion"], document["projectVersion"]) == ("5.1.0", "5.2.0")
    assert list(document["resourceSchemas"]) == sorted(trim.RESOURCES)
    assert document["ds52Additions"] == trim.DS_52_ADDITIONS
    for resource, added in trim.DS_52_ADDITIONS.items():
        properties = document["resourceSchemas"][resource]["jsonSchemaForInsert"]["properties"]
        assert added.items() <= properties.items()

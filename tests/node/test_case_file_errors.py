"""A broken line reports all its problems at once, so one round of fixes is enough."""

from __future__ import annotations

import json

from node.cases.prepare import prepare_jsonl


def test_structural_and_identifier_problems_of_one_line_are_reported_together() -> None:
    line = json.dumps(
        {
            "case_ref": "NL-1",
            "title": "t",
            "colour": "red",  # unknown field
            "identifiers": [{"type": "phone", "value": "12", "region": "NL"}, {"type": "imei", "value": "1"}],
            "persons": [{"name": "Ana", "dob": "1999-13-40"}],
        }
    )
    prepared = prepare_jsonl([(7, line.encode())])
    found = {(p.line, p.field) for p in prepared.problems}
    assert found == {
        (7, "colour"),
        (7, "identifiers[0].value"),
        (7, "identifiers[1].value"),
        (7, "persons[0].dob"),
    }
    assert prepared.cases == []  # nothing of a broken line is ever imported


def test_a_valid_line_still_imports() -> None:
    line = json.dumps({"case_ref": "NL-2", "title": "t", "identifiers": [{"type": "phone", "value": "+31612345678"}]})
    prepared = prepare_jsonl([(1, line.encode())])
    assert prepared.problems == [] and len(prepared.cases) == 1

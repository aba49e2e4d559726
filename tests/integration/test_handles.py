"""A matched key keeps one handle on both sides, even when a newer case on one side joins the match."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.conftest import Federation
from tests.integration.disclosure_helpers import DE, NL, alert_id, outgoing, query, request_args

pytestmark = pytest.mark.timeout(120)


def _handles(federation: Federation, code: str, alert: int) -> set[bytes]:
    return {
        bytes(r[0]) for r in query(federation, code, "SELECT match_handle FROM alert_keys WHERE alert_id = ?", alert)
    }


def test_a_new_case_joining_a_match_reuses_the_handle_and_can_be_followed_up(
    federation: Federation, tmp_path: Path
) -> None:
    federation.match(NL, DE)
    first = _handles(federation, DE, alert_id(federation, DE, "DE-2026-PHONE", NL))
    # DE opens another case on the same phone; the next session gives it an alert of its own.
    later = {
        "case_ref": "DE-2026-LATER",
        "title": "Folgefall",
        "identifiers": [{"type": "phone", "value": "+31612345678"}],
    }
    path = tmp_path / "later.jsonl"
    path.write_text(json.dumps(later) + "\n")
    federation.cli(DE, "cases", "import", str(path), "--quiet")
    federation.match(NL, DE)
    newer = alert_id(federation, DE, "DE-2026-LATER", NL)
    assert _handles(federation, DE, newer) == first  # not the second session's fresh handle
    nl_alert = alert_id(federation, NL, "NL-2026-PHONE", DE)
    assert first <= _handles(federation, NL, nl_alert)

    # So NL can be asked about it: the owner finds the handle among its alerts with DE.
    federation.cli(DE, *request_args(newer, "H2"))
    ours, _ = outgoing(federation, DE, newer)
    assert query(federation, DE, "SELECT status, delivered FROM disclosures WHERE id = ?", ours) == [("pending", 1)]

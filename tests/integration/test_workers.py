"""serve and match with --workers spread the blinding over processes and find exactly the same matches."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.synthetic import agency_case_files, write_jsonl
from tests.integration.conftest import Federation

pytestmark = pytest.mark.timeout(180)


def test_worker_processes_find_the_same_matches(idle_federation: Federation, tmp_path: Path) -> None:
    fed = idle_federation
    # Several chunks of elements per side, so the pools really share the work.
    files = agency_case_files(("NL-NP", "DE-BKA"), 3000, seed=9, overlap=0.05, pool_size=40)
    for code in ("NL-NP", "DE-BKA"):
        fed.cli(code, "cases", "import", str(write_jsonl(files[code], tmp_path / f"{code}.jsonl")), "--quiet")
    fed.serve_subprocess("DE-BKA", "--workers", "2")
    fed.publish_addresses()

    single = fed.cli("NL-NP", "match", "DE-BKA", "--json").json()[0]
    assert single["status"] == "completed", single["error"]
    assert single["intersection"] > 0
    pooled = fed.cli("NL-NP", "match", "DE-BKA", "--workers", "2", "--json").json()[0]
    assert pooled["status"] == "completed", pooled["error"]
    assert (pooled["intersection"], pooled["new_alerts"], pooled["gone_alerts"]) == (single["intersection"], 0, 0)
    assert fed.cli("NL-NP", "audit", "verify").returncode == 0
    assert fed.cli("DE-BKA", "audit", "verify").returncode == 0

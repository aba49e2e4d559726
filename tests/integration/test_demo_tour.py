"""The demo tour runs on the operations layer and tells the same story as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from node.demo.tour import run_demo


def test_the_tour_tells_its_story(tmp_path: Path) -> None:
    said: list[str] = []
    shown: dict[str, list[dict[str, Any]]] = {}
    run_demo(tmp_path / "demo", said.append, lambda code, alerts: shown.__setitem__(code, alerts))
    story = "\n".join(said)
    for step in range(1, 8):
        assert f"\n{step}. " in "\n" + story, step
    assert "   NL-NP <-> DE-BKA: 863 x 892 keys, 4 shared, 2 new alerts for NL-NP" in said
    assert "   disclosure 1: request sent to NL-NP; waiting for its decision" in said
    assert "   NL-NP sees a pending request about its case NL-2026-0042 (DE-BKA does not know that ref)" in said
    released = [line.strip().split(":")[0] for line in said if line.startswith("     ")]
    assert released == ["case_ref", "contact", "persons", "summary", "title"]
    assert [line for line in said if "audit log intact" in line] == [
        "   NL-NP: audit log intact: 17 entries",
        "   DE-BKA: audit log intact: 14 entries",
        "   RO-DIICOT: audit log intact: 18 entries",
    ]
    assert {code: len(alerts) for code, alerts in shown.items()} == {"NL-NP": 10, "DE-BKA": 7, "RO-DIICOT": 13}

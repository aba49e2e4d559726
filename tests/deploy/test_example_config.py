"""deploy/casebridge.example.toml must stay a valid config that documents every field the node reads."""

from __future__ import annotations

import re
import tomllib
from datetime import UTC, datetime
from pathlib import Path

from crypto.certificates import create_identity, fingerprint, load_certificate
from node.config import settings as node_config
from node.core.home import NodeHome

EXAMPLE = Path(__file__).resolve().parents[2] / "deploy" / "casebridge.example.toml"


def test_the_example_parses_with_the_node_parser(tmp_path: Path) -> None:
    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    home = NodeHome(tmp_path)
    # The example's fingerprints are placeholders: pin freshly made certificates at its paths instead.
    for code, entry in document["peers"].items():
        cert_path = tmp_path / entry["certificate"]
        cert_path.parent.mkdir(parents=True, exist_ok=True)
        cert_path.write_bytes(create_identity(code, ["localhost"], datetime.now(UTC)).cert_pem)
        entry["fingerprint"] = fingerprint(load_certificate(cert_path.read_bytes()))
    parsed = node_config.parse_config(document, EXAMPLE, home)
    assert parsed.agency == "NL-NP"
    de, ro = parsed.peer("DE-BKA"), parsed.peer("RO-DIICOT")
    assert de is not None and ro is not None
    assert de.policy.key_types == ("phone", "passport") and de.policy.max_set_size == 500000
    assert de.policy.epoch_days == 1 and de.policy.daily_delta_quota == 200000
    assert ro.policy == parsed.policy
    assert parsed.sessions == node_config.SessionLimits()  # the example spells out the defaults
    assert parsed.schedule == node_config.ScheduleSettings()
    assert parsed.notify.secret_file == tmp_path / "notify.secret"


def test_every_field_is_set_in_the_example() -> None:
    document = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    assert set(document) == node_config._TOP_FIELDS
    assert set(document["policy"]) == node_config._POLICY_FIELDS
    assert set(document["peers"]["DE-BKA"]) == node_config._PEER_FIELDS
    assert set(document["sessions"]) == node_config._SESSION_FIELDS
    assert set(document["web"]) == node_config._WEB_FIELDS
    assert set(document["disclosure"]) == node_config._DISCLOSURE_FIELDS
    assert set(document["schedule"]) == node_config._SCHEDULE_FIELDS
    assert set(document["notify"]) == node_config._NOTIFY_FIELDS


def test_every_field_has_a_comment_above_it() -> None:
    lines = EXAMPLE.read_text(encoding="utf-8").splitlines()
    documented: set[str] = set()
    for i, line in enumerate(lines):
        field = re.match(r"^([a-z_]+) = ", line)
        if field and i > 0 and lines[i - 1].startswith("#"):
            documented.add(field.group(1))
    every = node_config._TOP_FIELDS | node_config._POLICY_FIELDS | node_config._PEER_FIELDS
    every |= node_config._SESSION_FIELDS | node_config._WEB_FIELDS | node_config._DISCLOSURE_FIELDS
    every |= node_config._SCHEDULE_FIELDS | node_config._NOTIFY_FIELDS
    assert every - {"policy", "peers", "sessions", "web", "disclosure", "schedule", "notify"} <= documented

"""init, identity and peers through the real command line, in child processes."""

from __future__ import annotations

import json
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from crypto.certificates import fingerprint, load_certificate
from node.config.settings import load_config, parse_address
from node.core.home import NodeHome

REPO = Path(__file__).resolve().parents[2]


def cli(home: Path, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [sys.executable, "-m", "node.cli", "--home", str(home), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    if ok:
        assert done.returncode == 0, done.stderr
    else:
        assert done.returncode != 0, done.stdout
    return done


def init(home: Path, agency: str, port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    return cli(home, "init", "--agency", agency, "--federation", "eu-tht", "--listen", f"127.0.0.1:{port}", *extra)


@pytest.fixture
def nodes(tmp_path: Path) -> tuple[Path, Path]:
    nl, de = tmp_path / "nl", tmp_path / "de"
    init(nl, "NL-NP", 7443)
    init(de, "DE-BKA", 7444, "--federation-secret", str(nl / "federation.secret"))
    return nl, de


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_creates_the_home_with_private_files(tmp_path: Path) -> None:
    root = tmp_path / "nl"
    done = init(root, "NL-NP", 7443)
    home = NodeHome(root)
    assert "out of band" in done.stdout
    assert _mode(root) == 0o700
    assert _mode(home.tls_key) == 0o600
    assert _mode(home.federation_secret) == 0o600
    assert home.tls_cert.exists() and home.config.exists()
    assert not home.database.exists()
    assert len(home.read_federation_secret()) == 32
    secret_hex = home.federation_secret.read_text().strip()
    assert secret_hex not in done.stdout + done.stderr
    config = load_config(home)
    assert (config.agency, config.federation, config.listen) == (
        "NL-NP",
        "eu-tht",
        parse_address("127.0.0.1:7443"),
    )
    assert config.retention_days == 365 and config.peers == ()


def test_second_member_installs_the_shared_secret(nodes: tuple[Path, Path]) -> None:
    nl, de = nodes
    assert NodeHome(de).read_federation_secret() == NodeHome(nl).read_federation_secret()
    assert _mode(NodeHome(de).federation_secret) == 0o600


def test_bad_federation_secret_is_refused_and_leaves_nothing(tmp_path: Path) -> None:
    bad = tmp_path / "secret"
    bad.write_text("not hex\n")
    result = cli(
        tmp_path / "x",
        "init",
        "--agency",
        "NL-NP",
        "--federation",
        "eu-tht",
        "--listen",
        "127.0.0.1:7443",
        "--federation-secret",
        str(bad),
        ok=False,
    )
    assert str(bad) in result.stderr
    assert not (tmp_path / "x").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["secret"]


def test_reinit_is_refused(nodes: tuple[Path, Path]) -> None:
    nl, _ = nodes
    before = NodeHome(nl).tls_cert.read_bytes()
    done = cli(nl, "init", "--agency", "NL-NP", "--federation", "eu-tht", "--listen", "127.0.0.1:1", ok=False)
    assert "refusing to overwrite" in done.stderr
    assert NodeHome(nl).tls_cert.read_bytes() == before


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--agency", "nl-np", "--federation", "f", "--listen", "127.0.0.1:1"], "agency code"),
        (["--agency", "NL-NP", "--federation", "f", "--listen", "127.0.0.1"], "HOST:PORT"),
        (["--agency", "NL-NP", "--federation", "f", "--listen", "[nothost]:7443"], "IPv6"),
        (["--agency", "NL-NP", "--federation", "f", "--listen", "h:70000"], "port"),
    ],
)
def test_init_validates_its_options(tmp_path: Path, args: list[str], needle: str) -> None:
    done = cli(tmp_path / "n", "init", *args, ok=False)
    assert needle in done.stderr
    assert not (tmp_path / "n").exists()


def test_identity_json(nodes: tuple[Path, Path]) -> None:
    nl, _ = nodes
    shown = json.loads(cli(nl, "identity", "--json").stdout)
    cert_path = NodeHome(nl).tls_cert
    assert shown == {
        "agency": "NL-NP",
        "address": "127.0.0.1:7443",
        "certificate": str(cert_path.absolute()),
        "fingerprint": fingerprint(load_certificate(cert_path.read_bytes())),
    }


def _peers(home: Path) -> list[dict[str, Any]]:
    listed = json.loads(cli(home, "peers", "list", "--json").stdout)
    assert isinstance(listed, list)
    return listed


def test_peers_add_list_remove(nodes: tuple[Path, Path]) -> None:
    nl, de = nodes
    de_cert = NodeHome(de).tls_cert
    cli(
        nl,
        "peers",
        "add",
        "DE-BKA",
        "--address",
        "[::1]:7444",
        "--cert",
        str(de_cert),
        "--types",
        "phone,passport",
        "--max-set-size",
        "1000",
    )
    pinned = nl / "peers" / "DE-BKA.crt"
    assert pinned.exists()
    default_quota = load_config(NodeHome(nl)).policy.daily_quota
    assert _peers(nl) == [
        {
            "code": "DE-BKA",
            "address": "[::1]:7444",
            "certificate": str(pinned.resolve()),
            "fingerprint": fingerprint(load_certificate(de_cert.read_bytes())),
            "types": ["phone", "passport"],
            "max_set_size": 1000,
            "daily_quota": default_quota,
            "daily_work": load_config(NodeHome(nl)).policy.daily_work,
            "epoch": load_config(NodeHome(nl)).policy.epoch_days,
            "daily_delta_quota": load_config(NodeHome(nl)).policy.daily_delta_quota,
        }
    ]
    stored = tomllib.loads(NodeHome(nl).config.read_text())["peers"]["DE-BKA"]
    assert "daily_quota" not in stored  # not set for this peer: follows [policy]
    done = cli(nl, "peers", "add", "DE-BKA", "--address", "h:1", "--cert", str(de_cert), ok=False)
    assert "already configured" in done.stderr
    cli(nl, "peers", "remove", "DE-BKA")
    assert _peers(nl) == []
    assert not pinned.exists()
    done = cli(nl, "peers", "remove", "DE-BKA", ok=False)
    assert "DE-BKA" in done.stderr


def test_certificate_of_another_agency_is_refused(nodes: tuple[Path, Path]) -> None:
    nl, de = nodes
    done = cli(nl, "peers", "add", "RO-DIICOT", "--address", "h:1", "--cert", str(NodeHome(de).tls_cert), ok=False)
    assert "peer RO-DIICOT" in done.stderr and "--cert" in done.stderr and "DE-BKA" in done.stderr
    assert _peers(nl) == []
    assert not (nl / "peers" / "RO-DIICOT.crt").exists()


@pytest.mark.parametrize(
    ("args", "field"),
    [
        (["--types", "phone,telepathy"], "--types"),
        (["--address", "no-port"], "--address"),
    ],
)
def test_bad_peer_options_are_refused(nodes: tuple[Path, Path], args: list[str], field: str) -> None:
    nl, de = nodes
    options = {"--address": "h:1", "--cert": str(NodeHome(de).tls_cert)}
    options.update(zip(args[::2], args[1::2], strict=True))
    flat = [part for pair in options.items() for part in pair]
    done = cli(nl, "peers", "add", "DE-BKA", *flat, ok=False)
    assert "peer DE-BKA" in done.stderr and field in done.stderr
    assert "telepathy" in done.stderr or field != "--types"
    assert _peers(nl) == []


def test_not_a_certificate_and_own_code_are_refused(nodes: tuple[Path, Path], tmp_path: Path) -> None:
    nl, _ = nodes
    junk = tmp_path / "junk.pem"
    junk.write_text("hello\n")
    done = cli(nl, "peers", "add", "DE-BKA", "--address", "h:1", "--cert", str(junk), ok=False)
    assert "--cert" in done.stderr
    own = str(NodeHome(nl).tls_cert)
    done = cli(nl, "peers", "add", "NL-NP", "--address", "h:1", "--cert", own, ok=False)
    assert "own agency" in done.stderr


def test_broken_config_names_file_and_field(nodes: tuple[Path, Path]) -> None:
    nl, _ = nodes
    config = NodeHome(nl).config
    config.write_text(config.read_text().replace("retention_days = 365", "retention_days = -1"))
    done = cli(nl, "identity", ok=False)
    assert str(config) in done.stderr and "retention_days" in done.stderr
    config.write_text(config.read_text().replace("retention_days = -1", "retention_days = 365\ncolour = 1"))
    done = cli(nl, "peers", "list", ok=False)
    assert "colour" in done.stderr and "unknown field" in done.stderr


def test_tampered_pinned_certificate_is_detected(nodes: tuple[Path, Path]) -> None:
    nl, de = nodes
    cli(nl, "peers", "add", "DE-BKA", "--address", "h:1", "--cert", str(NodeHome(de).tls_cert))
    other = nl.parent / "ro"
    init(other, "RO-DIICOT", 7445)
    (nl / "peers" / "DE-BKA.crt").write_bytes(NodeHome(other).tls_cert.read_bytes())
    done = cli(nl, "peers", "list", ok=False)
    assert "peers.DE-BKA.fingerprint" in done.stderr


@pytest.mark.parametrize(
    "command",
    [[], ["init"], ["identity"], ["peers"], ["peers", "add"], ["peers", "list"], ["peers", "remove"]],
)
def test_help_has_an_example(tmp_path: Path, command: list[str]) -> None:
    done = cli(tmp_path, *command, "--help")
    assert "Example:" in done.stdout


def test_peers_update_changes_policy_and_is_audited(nodes: tuple[Path, Path]) -> None:
    nl, de = nodes
    cli(nl, "peers", "add", "DE-BKA", "--address", "127.0.0.1:7444", "--cert", str(NodeHome(de).tls_cert))
    pinned_before = (nl / "peers" / "DE-BKA.crt").read_bytes()
    cli(nl, "peers", "update", "DE-BKA", "--types", "phone,iban", "--daily-quota", "500", "--address", "[::1]:9")
    (peer,) = _peers(nl)
    assert (peer["types"], peer["daily_quota"], peer["address"]) == (["phone", "iban"], 500, "[::1]:9")
    assert (nl / "peers" / "DE-BKA.crt").read_bytes() == pinned_before
    cli(nl, "peers", "update", "DE-BKA", "--default-policy")
    (peer,) = _peers(nl)
    policy = load_config(NodeHome(nl)).policy
    assert (peer["types"], peer["daily_quota"]) == (list(policy.key_types), policy.daily_quota)
    events = [e["event"] for e in json.loads(cli(nl, "audit", "list", "--json").stdout)]
    assert events == ["policy.peer-added", "policy.peer-changed", "policy.peer-changed"]
    assert cli(nl, "audit", "verify").returncode == 0


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["XX-YY", "--types", "phone"], "not configured"),
        (["DE-BKA", "--types", "bogus"], "--types"),
        (["DE-BKA"], "nothing to change"),
        (["DE-BKA", "--address", "nohost"], "--address"),
    ],
)
def test_peers_update_refuses_bad_input_and_changes_nothing(
    nodes: tuple[Path, Path], args: list[str], needle: str
) -> None:
    nl, de = nodes
    cli(nl, "peers", "add", "DE-BKA", "--address", "127.0.0.1:7444", "--cert", str(NodeHome(de).tls_cert))
    before = NodeHome(nl).config.read_bytes()
    done = cli(nl, "peers", "update", *args, ok=False)
    assert needle in done.stderr
    assert NodeHome(nl).config.read_bytes() == before


@pytest.mark.parametrize(
    "args",
    [["audit", "verify"], ["alerts", "list"], ["disclose", "list"], ["cases", "list"], ["serve"], ["purge"]],
)
def test_a_home_without_a_node_is_refused_and_left_untouched(tmp_path: Path, args: list[str]) -> None:
    empty = tmp_path / "typo"
    empty.mkdir()
    done = cli(empty, *args, ok=False)
    assert "no casebridge node here" in done.stderr
    assert "Traceback" not in done.stderr
    assert list(empty.iterdir()) == []  # no database created by accident


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("[schedule]\nafter_import = 0\n", "schedule.after_import: expected a positive whole number"),
        ('[schedule]\ninterval = "15m"\n', "schedule.interval: expected a positive whole number"),
        ('[schedule]\nenabled = "yes"\n', "schedule.enabled: expected true or false"),
        ("[schedule]\nevery = 5\n", "schedule.every: unknown field"),
        (
            '[notify]\nwebhook = "http://alerts.example.org/hook"\n',
            "notify.webhook: plain http is allowed to a loopback",
        ),
        ('[notify]\nwebhook = "ftp://example.org/"\n', "notify.webhook: expected an https:// address"),
        ('[notify]\nwebhook = "https://u:p@example.org/"\n', "notify.webhook: put no user name or password"),
        ('[notify]\nsecret_file = "n.key"\n', "notify.secret_file: set notify.webhook too"),
    ],
)
def test_bad_schedule_and_notify_settings_name_the_field(nodes: tuple[Path, Path], table: str, problem: str) -> None:
    nl, _ = nodes
    config = NodeHome(nl).config
    config.write_text(config.read_text() + "\n" + table)
    done = cli(nl, "schedule", "status", ok=False)
    assert str(config) in done.stderr and problem in done.stderr, done.stderr


def test_schedule_and_notify_settings_are_read(nodes: tuple[Path, Path]) -> None:
    nl, _ = nodes
    home = NodeHome(nl)
    defaults = load_config(home)
    assert (defaults.schedule.enabled, defaults.schedule.after_import, defaults.schedule.interval) == (True, 30, 900)
    assert defaults.notify.webhook is None
    home.config.write_text(home.config.read_text() + '\n[schedule]\nafter_import = 5\ninterval = 60\n'
                           '\n[notify]\nwebhook = "http://127.0.0.1:8080/hook"\n')  # fmt: skip
    config = load_config(home)
    assert (config.schedule.after_import, config.schedule.interval) == (5, 60)
    assert config.notify.webhook == "http://127.0.0.1:8080/hook"
    assert config.notify.secret_file == nl / "notify.secret"

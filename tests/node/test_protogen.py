"""The committed generated protobuf modules match their .proto sources."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from node.protogen import _fix_imports

REPO = Path(__file__).resolve().parents[2]


def test_committed_modules_are_current() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "node.protogen", "--check"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr


def test_import_rewrite_keeps_wire_names() -> None:
    generated = (
        "from casebridge.v1 import casebridge_pb2 as casebridge_dot_v1_dot_casebridge__pb2\n"
        "import casebridge.v1.casebridge_pb2\n"
        "x: casebridge.v1.casebridge_pb2.PsiFrame\n"
        "path = '/casebridge.v1.Exchange/Match'\n"
        "service = 'casebridge.v1.Exchange'\n"
    )
    assert _fix_imports(generated, {"casebridge.v1"}) == (
        "from proto.casebridge.v1 import casebridge_pb2 as casebridge_dot_v1_dot_casebridge__pb2\n"
        "import proto.casebridge.v1.casebridge_pb2\n"
        "x: proto.casebridge.v1.casebridge_pb2.PsiFrame\n"
        "path = '/casebridge.v1.Exchange/Match'\n"
        "service = 'casebridge.v1.Exchange'\n"
    )


def test_generated_service_module_imports_from_the_package() -> None:
    from proto.casebridge.v1 import casebridge_pb2, casebridge_pb2_grpc

    assert vars(casebridge_pb2_grpc)["casebridge_dot_v1_dot_casebridge__pb2"] is casebridge_pb2

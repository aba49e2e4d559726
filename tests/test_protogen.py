"""The committed generated protobuf modules match their .proto sources."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import types
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOOL = REPO / "proto" / "tools" / "protogen.py"


def _tool() -> types.ModuleType:
    # A development tool, kept outside the installed packages: load it from its file.
    spec = importlib.util.spec_from_file_location("protogen", TOOL)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_committed_modules_are_current() -> None:
    done = subprocess.run(
        [sys.executable, str(TOOL), "--check"],
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
    fix_imports = _tool()._fix_imports
    assert fix_imports(generated, {"casebridge.v1"}) == (
        "from proto.casebridge.v1 import casebridge_pb2 as casebridge_dot_v1_dot_casebridge__pb2\n"
        "import proto.casebridge.v1.casebridge_pb2\n"
        "x: proto.casebridge.v1.casebridge_pb2.PsiFrame\n"
        "path = '/casebridge.v1.Exchange/Match'\n"
        "service = 'casebridge.v1.Exchange'\n"
    )


def test_generated_service_module_imports_from_the_package() -> None:
    from proto.casebridge.v1 import casebridge_pb2, casebridge_pb2_grpc

    assert vars(casebridge_pb2_grpc)["casebridge_dot_v1_dot_casebridge__pb2"] is casebridge_pb2

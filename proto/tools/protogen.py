"""Regenerate the committed protobuf/gRPC modules, or check that they are current.

    python proto/tools/protogen.py            # rewrite proto/casebridge/v1/*_pb2*.py[i]
    python proto/tools/protogen.py --check    # exit 1 naming the first stale file; touch nothing

The .proto sources sit under ``proto/`` with paths that match their package (``casebridge/v1/...``), and
protoc runs with ``-I proto`` so the descriptors carry the canonical file name other gRPC tools expect.
protoc then writes cross-module imports as ``casebridge.v1...``, but in this distribution the modules live
in the ``proto`` package; :func:`_fix_imports` rewrites exactly those import references (never the
``/casebridge.v1.Exchange/...`` method paths, which are wire names) to ``proto.casebridge.v1...``.

The output depends on the generator versions (grpcio-tools embeds its protoc and its version in the code),
so the dev extra pins them; a check run with other versions reports every file as stale.
"""

from __future__ import annotations

import argparse
import filecmp
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

__all__ = ["check", "generate", "main"]

REPO = Path(__file__).resolve().parents[2]
PROTO_ROOT = REPO / "proto"
PACKAGE_PREFIX = "proto"
_GENERATED_SUFFIXES = ("_pb2.py", "_pb2.pyi", "_pb2_grpc.py", "_pb2_grpc.pyi")


def _sources(root: Path) -> list[Path]:
    return sorted(root.rglob("*.proto"))


def _is_generated(path: Path) -> bool:
    return path.name.endswith(_GENERATED_SUFFIXES)


def _well_known_includes() -> Path:
    spec = importlib.util.find_spec("grpc_tools")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("grpcio-tools is not installed; install the 'dev' extra: pip install -e '.[dev]'")
    return Path(next(iter(spec.submodule_search_locations))) / "_proto"


def _plugin(name: str) -> str:
    beside_python = Path(sys.executable).parent / name
    found = str(beside_python) if beside_python.exists() else shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is not installed; install the 'dev' extra: pip install -e '.[dev]'")
    return found


def _fix_imports(text: str, packages: set[str]) -> str:
    """Point protoc's top-level ``casebridge.v1`` imports at ``proto.casebridge.v1``."""
    for package in sorted(packages):
        dotted = re.escape(package)
        text = re.sub(rf"^from {dotted} import ", f"from {PACKAGE_PREFIX}.{package} import ", text, flags=re.MULTILINE)
        # Module references in stubs (``import casebridge.v1.x_pb2`` and ``casebridge.v1.x_pb2.Msg``); the
        # lookbehind keeps quoted or slash-prefixed wire names such as '/casebridge.v1.Exchange/Match'.
        text = re.sub(rf"(?<![\w./'\"]){dotted}\.(?=\w+_pb2)", f"{PACKAGE_PREFIX}.{package}.", text)
    return text


def generate(out: Path, root: Path = PROTO_ROOT) -> list[Path]:
    """Generate every module for the sources under ``root`` into ``out``; the paths written, relative."""
    sources = _sources(root)
    if not sources:
        raise SystemExit(f"no .proto files under {root}")
    command = [
        sys.executable,
        "-m",
        "grpc_tools.protoc",
        f"-I{root}",
        f"-I{_well_known_includes()}",
        f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
        f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
        f"--python_out={out}",
        f"--grpc_python_out={out}",
        f"--mypy_out=quiet:{out}",
        f"--mypy_grpc_out=quiet:{out}",
        *(str(source) for source in sources),
    ]
    # The stub generator warns about its own embedded protobuf version on every run; it says nothing
    # about the generated code, so keep it out of the output.
    env = {**os.environ, "PYTHONWARNINGS": "ignore::UserWarning"}
    subprocess.run(command, check=True, env=env)
    written = sorted(path.relative_to(out) for path in out.rglob("*") if _is_generated(path))
    packages = {".".join(path.parent.parts) for path in written}
    for relative in written:
        path = out / relative
        path.write_text(_fix_imports(path.read_text(encoding="utf-8"), packages), encoding="utf-8")
    return written


def check(root: Path = PROTO_ROOT) -> list[str]:
    """The committed generated files that differ from a fresh generation (missing, changed or orphaned)."""
    stale: list[str] = []
    with tempfile.TemporaryDirectory(prefix="casebridge-protogen-") as tmp:
        fresh = Path(tmp)
        expected = set(generate(fresh, root))
        for relative in sorted(expected):
            committed = root / relative
            if not committed.exists() or not filecmp.cmp(committed, fresh / relative, shallow=False):
                stale.append(str(committed.relative_to(root.parent)))
        for path in sorted(root.rglob("*")):
            if _is_generated(path) and path.relative_to(root) not in expected:
                stale.append(str(path.relative_to(root.parent)))
    return stale


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python proto/tools/protogen.py", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="Exit non-zero if the committed modules are stale.")
    args = parser.parse_args(argv)
    if args.check:
        stale = check()
        if stale:
            for name in stale:
                print(f"stale generated file: {name} (run 'make proto' and commit)", file=sys.stderr)
            return 1
        print("generated protobuf modules are up to date")
        return 0
    written = generate(PROTO_ROOT)
    for relative in written:
        print(f"wrote {PACKAGE_PREFIX}/{relative}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

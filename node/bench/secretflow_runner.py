"""SecretFlow's ECDH-PSI (pip ``spu``) on two item files, both parties on this machine: run by ``casebridge
bench psi --compare secretflow`` with the interpreter of an environment of its own (``make secretflow``),
since spu pins numpy and jax below what ours has. Imports nothing of casebridge.

Usage: ``python secretflow_runner.py OURS THEIRS PORT_A PORT_B OUT_DIR``; OURS and THEIRS hold one item a
line. Prints, as its last line, one JSON object: wall seconds from both parties being connected until the
last one is done, each party's CPU seconds over the same span, and the items party 0 (the receiver) found
in common.
"""

from __future__ import annotations

import csv
import json
import multiprocessing
import resource
import sys
import time
from pathlib import Path

_KEY = "id"


def _write_csv(items: Path, target: Path) -> None:
    with items.open() as source, target.open("w", newline="") as out:
        writer = csv.writer(out)
        writer.writerow([_KEY])
        for line in source:
            writer.writerow([line.rstrip("\n")])


_Report = tuple[int, float, float, float]  # rank, started, ended, CPU seconds


def _party(
    rank: int,
    ports: tuple[int, int],
    source: str,
    output: str,
    cpu: multiprocessing.Queue[_Report],
) -> None:
    import spu.libspu as libspu
    import spu.psi as psi

    desc = libspu.link.Desc()
    for party, port in enumerate(ports):
        desc.add_party(f"party{party}", f"127.0.0.1:{port}")
    desc.recv_timeout_ms = 600_000
    link = libspu.link.create_brpc(desc, rank)
    link.barrier()  # both parties connected: the session starts here, for both at once
    # perf_counter is CLOCK_MONOTONIC on Linux: one clock for both processes, so their spans compare.
    cpu_before, started = _cpu(), time.perf_counter()
    config = psi.PsiExecuteConfig(
        protocol_conf=psi.PsiProtocolConfig(
            protocol=psi.PsiProtocol.PROTOCOL_ECDH,
            receiver_rank=0,
            broadcast_result=False,
            ecdh_params=psi.EcdhParams(curve=psi.EllipticCurveType.CURVE_25519),
        ),
        input_params=psi.InputParams(path=source, selected_keys=[_KEY], keys_unique=True),
        output_params=psi.OutputParams(path=output, disable_alignment=True),
    )
    psi.psi_execute(config, link)
    link.stop_link()
    # The session only: not the interpreter's start, spu's import, or waiting for the other party.
    cpu.put((rank, started, time.perf_counter(), _cpu() - cpu_before))


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(argv: list[str]) -> int:
    ours, theirs, port_a, port_b, out_dir = argv
    work = Path(out_dir)
    inputs = [work / "party0.csv", work / "party1.csv"]
    for items, target in zip((Path(ours), Path(theirs)), inputs, strict=True):
        _write_csv(items, target)
    outputs = [work / "party0-out.csv", work / "party1-out.csv"]
    context = multiprocessing.get_context("spawn")
    cpu: multiprocessing.Queue[_Report] = context.Queue()
    ports = (int(port_a), int(port_b))
    parties = [
        context.Process(target=_party, args=(rank, ports, str(inputs[rank]), str(outputs[rank]), cpu))
        for rank in (0, 1)
    ]
    for party in parties:
        party.start()
    for party in parties:
        party.join()
    if any(party.exitcode != 0 for party in parties):
        print(json.dumps({"error": "a SecretFlow party failed"}))
        return 1
    reports = sorted(cpu.get() for _ in parties)
    seconds = max(end for _, _, end, _ in reports) - min(start for _, start, _, _ in reports)
    spent = {rank: used for rank, _, _, used in reports}
    with outputs[0].open(newline="") as result:
        found = [row[_KEY] for row in csv.DictReader(result)]
    print(json.dumps({"seconds": seconds, "cpu_seconds": [spent[0], spent[1]], "found": found}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Case import: check the whole file, normalise, hash, and write it in one transaction.

All or nothing: nothing touches the database until every case of the file has parsed and every
identifier has normalised, and the write is one transaction, so a failure or a kill at any point leaves
the database as it was.

Throughput: parsing and normalising run in worker processes on chunks of raw lines; hashing runs on
:class:`~node.core.workers.ParallelCrypto` from a background thread while this thread writes, so the
database work overlaps the hashing instead of following it. Both use the one worker pool of the import.
"""

from __future__ import annotations

import contextlib
import gc
import io
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, TypeVar

from sqlite_utils import Database

from crypto import Suite
from node.cases.csvform import parse_csv
from node.cases.model import MAX_REPORTED_ERRORS, CaseFileError, ImportSummary, ParsedCase, Problem
from node.cases.prepare import Prepared, prepare_jsonl, prepare_parsed
from node.cases.writer import ImportProgress, write_cases
from node.core.errors import LocalError
from node.core.workers import ParallelCrypto
from node.store import transaction
from node.store.cases import set_import_cache

__all__ = ["CaseFormat", "ImportProgress", "format_for", "import_case_file"]

log = logging.getLogger("casebridge.cases")

CaseFormat = Literal["jsonl", "csv"]
_T = TypeVar("_T")
_LINES_PER_CHUNK = 1_000
_HASH_BATCH = 16_384
# Page cache for the import connection (KiB, as SQLite's negative cache_size): the element index takes
# random inserts, and keeping its pages in memory for the one large transaction avoids re-reading them.
_IMPORT_CACHE_KIB = 256 * 1024


class _Silent:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, done: int) -> None:
        pass


def format_for(path: Path, given: str | None) -> CaseFormat:
    if given is not None:
        if given not in ("jsonl", "csv"):
            raise LocalError(f"unknown case file format {given!r}; use jsonl or csv")
        return "csv" if given == "csv" else "jsonl"
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise LocalError(f"{path.name}: cannot tell the format from the extension; pass --format jsonl or csv")


def _chunks(items: Sequence[_T], size: int) -> list[Sequence[_T]]:
    return [items[start : start + size] for start in range(0, len(items), size)]


def _fail(source: str, problems: list[Problem]) -> CaseFileError:
    problems.sort(key=lambda p: p.line)
    return CaseFileError(source, problems[:MAX_REPORTED_ERRORS], truncated=len(problems) > MAX_REPORTED_ERRORS)


def _work_items(data: bytes, fmt: CaseFormat, source: str) -> tuple[Callable[[Any], Prepared], list[Any]]:
    if fmt == "jsonl":
        lines = [(n, raw) for n, raw in enumerate(data.split(b"\n"), start=1) if raw.strip()]
        return prepare_jsonl, _chunks(lines, _LINES_PER_CHUNK)
    # CSV rows can span lines (quoted line breaks), so they are split into cases here, in order.
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaseFileError(source, [Problem(line, "", "not UTF-8 text")]) from None
    problems: list[Problem] = []
    parsed: list[ParsedCase] = list(parse_csv(io.StringIO(text, newline=""), problems))
    if problems:
        raise _fail(source, problems)
    return prepare_parsed, _chunks(parsed, _LINES_PER_CHUNK)


def _prepare(path: Path, fmt: CaseFormat, workers: ParallelCrypto, report: ImportProgress) -> Prepared:
    source = path.name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LocalError(f"{path}: cannot read the case file ({exc.strerror or type(exc).__name__})") from None
    work, chunks = _work_items(data, fmt, source)
    del data
    report.phase("checking", sum(len(c) for c in chunks))
    merged = Prepared()
    for chunk, part in zip(chunks, workers.map(work, chunks), strict=True):
        merged.extend(part)
        report.advance(len(chunk))
    first_line: dict[str, int] = {}
    for rows in merged.cases:
        line, ref = rows[0][0], rows[0][1]
        earlier = first_line.setdefault(ref, line)
        if earlier != line:
            merged.problems.append(Problem(line, "case_ref", f"{ref} already appears on line {earlier}"))
    if merged.problems:
        raise _fail(source, merged.problems)
    if not merged.cases:
        raise CaseFileError(source, [Problem(0, "", "holds no cases")])
    return merged


def _hash_in_background(
    crypto: ParallelCrypto, suite: Suite, secret: bytes, keys: list[tuple[str, str]]
) -> Iterator[list[bytes]]:
    """Element batches in key order, computed ahead by a thread while the caller consumes them."""
    batches: queue.Queue[list[bytes] | BaseException | None] = queue.Queue(maxsize=4)
    stop = threading.Event()

    def run() -> None:
        try:
            for start in range(0, len(keys), _HASH_BATCH * crypto.workers):
                if stop.is_set():
                    return
                batches.put(crypto.hash_keys(suite, secret, keys[start : start + _HASH_BATCH * crypto.workers]))
            batches.put(None)
        except BaseException as exc:  # handed to the consumer, which re-raises it
            batches.put(exc)

    # Fork the hashing processes now, from this thread, before the writer and the hashing thread run
    # side by side: a child forked mid-write would inherit locks held at that moment.
    crypto.warm_up()
    thread = threading.Thread(target=run, name="casebridge-hash", daemon=True)
    thread.start()
    try:
        while (item := batches.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        while thread.is_alive():  # unblock a producer waiting on a full queue
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)
        thread.join()


def import_case_file(
    db: Database,
    path: Path,
    fmt: CaseFormat,
    *,
    suite: Suite,
    secret: bytes,
    workers: int | None = None,
    progress: ImportProgress | None = None,
    within: Callable[[Database, ImportSummary], None] | None = None,
) -> ImportSummary:
    """Import every case of ``path`` or none of them; ``within`` runs inside the import's transaction
    (the audit entry commits with the cases it records).

    A ``case_ref`` already in the database is replaced: its fields are updated and its identifiers,
    persons and keys are swapped for the file's, so identifiers removed from the case stop matching. Its
    status (open / closed) is kept: closing a case is a deliberate act that a re-export must not undo.
    Raises :class:`CaseFileError` naming file, line and field of each problem, never a value.
    """
    # The import builds millions of small tuples and strings and frees them all at the end; none of them
    # form reference cycles. Left on, the cyclic collector rescans that growing heap again and again
    # (measured: unpickling a worker's results ten times slower), and forked workers inherit the setting.
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _import(db, path, fmt, suite=suite, secret=secret, workers=workers, progress=progress, within=within)
    finally:
        if was_enabled:
            gc.enable()


def _import(
    db: Database,
    path: Path,
    fmt: CaseFormat,
    *,
    suite: Suite,
    secret: bytes,
    workers: int | None,
    progress: ImportProgress | None,
    within: Callable[[Database, ImportSummary], None] | None = None,
) -> ImportSummary:
    started = time.perf_counter()
    report = progress or _Silent()
    with ParallelCrypto(workers or os.cpu_count() or 1) as crypto:
        prepared = _prepare(path, fmt, crypto, report)
        key_types = [key_type for key_type, _ in prepared.keys]
        set_import_cache(db, _IMPORT_CACHE_KIB)
        with transaction(db):
            added, updated = write_cases(
                db,
                prepared.cases,
                key_types,
                prepared.tiers,
                _hash_in_background(crypto, suite, secret, prepared.keys),
                suite.name,
                report,
            )
            summary = ImportSummary(
                cases_added=added,
                cases_updated=updated,
                identifiers=sum(len(rows[1]) for rows in prepared.cases),
                persons=sum(len(rows[3]) for rows in prepared.cases),
                keys=len(prepared.keys),
                seconds=time.perf_counter() - started,
            )
            if within is not None:
                within(db, summary)
    log.info(
        "case import: %d added, %d updated, %d identifiers, %d persons, %d keys in %.1f s",
        summary.cases_added,
        summary.cases_updated,
        summary.identifiers,
        summary.persons,
        summary.keys,
        summary.seconds,
    )
    return summary

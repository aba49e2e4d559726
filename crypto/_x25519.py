"""Batched X25519: many points times one scalar, a whole chunk per call into native code.

Private: callers use :class:`crypto.blinding.BlindingKey`. Two engines, chosen once per process:

- ``crypto_mb``: the AVX-512 IFMA eight-lane Montgomery ladder ``mbx_x25519_mb8`` of Intel's crypto_mb
  library (the ``ipp-crypto`` wheel, Apache-2.0, which needs the ``intel-cmplr-lib-rt`` runtime under
  Intel's licence for developer tools; the optional ``ifma`` extra). Used only when the library is
  installed, reports that this CPU runs it (``mbx_is_crypto_mb_applicable``), and then reproduces libsodium's
  results byte for byte on a known-answer batch at load; otherwise it is not used at all.
- ``libsodium``: ``crypto_scalarmult`` of the libsodium that PyNaCl ships (ISC licence), one C call per
  element over buffers shared with the caller, so no Python object is made per element. The call releases
  the GIL, so several threads of one process multiply in parallel.

Both engines get only validated input (:func:`validate`), and a zero output (a point of small order) raises
the same opaque :class:`~crypto.errors.InvalidElement` whichever engine ran.
"""

from __future__ import annotations

import ctypes
import functools
import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from importlib import metadata
from pathlib import Path

from nacl._sodium import ffi, lib

from crypto._field import P
from crypto.errors import CryptoUsageError, InvalidElement

__all__ = ["ENGINES", "Engine", "engine", "multiply_many", "validate"]

WIDTH = 32
_ZERO = bytes(WIDTH)
_BASE = b"\x09" + bytes(WIDTH - 1)
# u = 2 lies on the twist of Curve25519: 2^3 + 486662 * 2^2 + 2 is not a square mod p.
_TWIST_POINT = (2).to_bytes(WIDTH, "little")
_SMALL_ORDER = (39382357235489614581723060781553021112529911719440698176882885853963445705823).to_bytes(WIDTH, "little")
# u-coordinates with the top bit clear that are still not canonical: 2^255 - 19 .. 2^255 - 1.
_P_LOW_BYTE = 0xED
_LANES = 8
# The runtime libraries crypto_mb needs, in the order they depend on one another.
_IFMA_RUNTIME = ("libintlc.so.5", "libirng.so", "libimf.so", "libsvml.so")
ENGINES = ("crypto_mb", "libsodium")


def validate(blob: bytes) -> None:
    """Raise InvalidElement unless ``blob`` is whole 32-byte canonical u-coordinates (u < 2^255 - 19).

    Checked without a Python object per element: the top byte of every element comes out as one slice.
    """
    if len(blob) % WIDTH:
        raise InvalidElement()
    tops = blob[WIDTH - 1 :: WIDTH]
    if tops and max(tops) >= 0x80:
        raise InvalidElement()
    at = tops.find(0x7F)
    while at != -1:
        start = at * WIDTH
        element = blob[start : start + WIDTH]
        if element[1:31] == b"\xff" * 30 and element[0] >= _P_LOW_BYTE:
            raise InvalidElement()
        at = tops.find(0x7F, at + 1)


def _has_zero_element(out: bytes | bytearray) -> bool:
    at = out.find(_ZERO)
    while at != -1:
        if at % WIDTH == 0:
            return True
        at = out.find(_ZERO, at + 1)
    return False


def _sodium(scalar: bytes, blob: bytes) -> bytes:
    out = bytearray(len(blob))
    target, source, key = ffi.from_buffer(out), ffi.from_buffer(blob), ffi.from_buffer(scalar)
    multiply = lib.crypto_scalarmult
    for offset in range(0, len(blob), WIDTH):
        # -1: the result would be the all-zero point (the input has small order).
        if multiply(target + offset, key, source + offset) != 0:
            raise InvalidElement()
    return bytes(out)


class _CryptoMb:
    """``mbx_x25519_mb8`` through ctypes: eight points a call, one scalar for all lanes."""

    def __init__(self, library: ctypes.CDLL) -> None:
        self._lanes = ctypes.c_void_p * _LANES
        # mbx_status mbx_x25519_mb8(int8u* const out[8], const int8u* const scalars[8], const int8u* const
        # points[8]): mbx_status is a 32-bit word, four bits of status per lane.
        self._mb8 = library.mbx_x25519_mb8
        self._mb8.restype = ctypes.c_uint32
        self._mb8.argtypes = [self._lanes, self._lanes, self._lanes]

    def __call__(self, scalar: bytes, blob: bytes) -> bytes:
        count = len(blob) // WIDTH
        padded = blob + blob[:WIDTH] * ((-count) % _LANES) if count else b""
        source = ctypes.create_string_buffer(padded, len(padded))
        out = ctypes.create_string_buffer(len(padded))
        key = ctypes.create_string_buffer(scalar, WIDTH)
        keys = self._lanes(*([ctypes.addressof(key)] * _LANES))
        base_in, base_out = ctypes.addressof(source), ctypes.addressof(out)
        for group in range(0, len(padded), WIDTH * _LANES):
            lanes = range(group, group + WIDTH * _LANES, WIDTH)
            status = self._mb8(
                self._lanes(*[base_out + at for at in lanes]), keys, self._lanes(*[base_in + at for at in lanes])
            )
            if status:
                raise InvalidElement()
        result = out.raw[: count * WIDTH]
        if _has_zero_element(result):
            raise InvalidElement()
        return result


Engine = Callable[[bytes, bytes], bytes]


def _library_file(distribution: str, stem: str) -> Path | None:
    try:
        files = metadata.files(distribution) or []
    except metadata.PackageNotFoundError:
        return None
    for entry in files:
        if entry.name.startswith(stem):
            return Path(str(entry.locate()))
    return None


def _load_crypto_mb() -> _CryptoMb | None:
    """crypto_mb when installed and this CPU runs its IFMA code; None otherwise."""
    found = _library_file("ipp-crypto", "libcrypto_mb.so")
    if found is None:
        return None
    try:
        for name in _IFMA_RUNTIME:
            # The runtime ships in intel-cmplr-lib-rt; both wheels install into the environment's lib/.
            runtime = _library_file("intel-cmplr-lib-rt", name) or found.with_name(name)
            ctypes.CDLL(str(runtime), mode=ctypes.RTLD_GLOBAL)
        library = ctypes.CDLL(str(found))
    except OSError:
        return None
    library.mbx_is_crypto_mb_applicable.restype = ctypes.c_int
    library.mbx_is_crypto_mb_applicable.argtypes = [ctypes.c_uint64]
    if not library.mbx_is_crypto_mb_applicable(0):
        return None
    return _CryptoMb(library)


def _agrees_with_sodium(candidate: Engine) -> bool:
    """A known-answer check at load, byte for byte against libsodium: random points of the prime-order
    group, points of the twist and canonical values just below p (which a peer may send, and which either
    engine multiplies), across more than two groups of eight lanes; and a point of small order in any lane
    refuses the batch in both."""
    scalar = os.urandom(WIDTH)
    points = [_sodium(os.urandom(WIDTH), _BASE) for _ in range(2 * _LANES + 3)]
    points += [_TWIST_POINT, (P - 3).to_bytes(WIDTH, "little"), (P - 5).to_bytes(WIDTH, "little")]
    blob = b"".join(points)
    try:
        if candidate(scalar, blob) != _sodium(scalar, blob):
            return False
    except InvalidElement:
        return False
    for lane in (0, _LANES - 1, _LANES + 2):
        with_small = [*points[:lane], _SMALL_ORDER, *points[lane + 1 :]]
        try:
            candidate(scalar, b"".join(with_small))
        except InvalidElement:
            continue
        return False
    return True


@functools.cache
def engine(name: str | None = None) -> tuple[str, Engine]:
    """The engine to use: ``name`` if given and usable, else the fastest usable one.

    ``CASEBRIDGE_X25519=libsodium`` in the environment forces the portable engine (benchmarks compare both).
    """
    wanted = name or os.environ.get("CASEBRIDGE_X25519") or None
    if wanted not in (None, *ENGINES):
        raise CryptoUsageError(f"unknown X25519 engine {wanted!r}; choose one of {', '.join(ENGINES)}")
    if wanted in (None, "crypto_mb"):
        fast = _load_crypto_mb()
        if fast is not None and _agrees_with_sodium(fast):
            return "crypto_mb", fast
        if wanted == "crypto_mb":
            raise CryptoUsageError("the crypto_mb engine is not usable here (not installed, or no AVX-512 IFMA)")
    return "libsodium", _sodium


@functools.cache
def _threads(count: int) -> ThreadPoolExecutor:
    return ThreadPoolExecutor(count, thread_name_prefix="x25519")


def multiply_many(scalar: bytes, blob: bytes, threads: int = 1, using: str | None = None) -> bytes:
    """Every 32-byte element of ``blob`` times ``scalar`` (clamped as RFC 7748 says), concatenated.

    Validates first; raises InvalidElement for any bad or small-order element. ``threads`` > 1 splits the
    work over that many threads of this process (the engines release the GIL). ``using`` names an engine
    (tests and benchmarks); by default the fastest usable one runs.
    """
    if len(scalar) != WIDTH:
        raise CryptoUsageError("a scalar is 32 bytes")
    blob = bytes(blob)  # a snapshot: what was validated is what gets multiplied
    validate(blob)
    _, run = engine(using)
    count = len(blob) // WIDTH
    if threads <= 1 or count < 2 * threads:
        return run(scalar, blob)
    step = -(-count // threads) * WIDTH
    parts = [blob[at : at + step] for at in range(0, len(blob), step)]
    return b"".join(_threads(threads).map(run, [scalar] * len(parts), parts))

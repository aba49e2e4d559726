"""Arithmetic in GF(2^255 - 19) that the fast paths need and the C libraries do not expose.

Private: callers use :mod:`crypto.hash_to_group` and :mod:`crypto.blinding`.
"""

from __future__ import annotations

from collections.abc import Sequence

P = 2**255 - 19


def batch_inverse(values: Sequence[int]) -> list[int]:
    """Invert every value mod P with one exponentiation (Montgomery's trick).

    Raises ZeroDivisionError if any value is 0 mod P. Not constant time: inputs here are hash outputs,
    not secrets that an observer of our timing could target.
    """
    n = len(values)
    if n == 0:
        return []
    prefix = [0] * n
    acc = 1
    for i, v in enumerate(values):
        if v % P == 0:
            raise ZeroDivisionError("zero has no inverse")
        prefix[i] = acc
        acc = acc * v % P
    inv = pow(acc, P - 2, P)
    out = [0] * n
    for i in range(n - 1, -1, -1):
        out[i] = inv * prefix[i] % P
        inv = inv * values[i] % P
    return out

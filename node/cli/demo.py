"""``casebridge demo``: the end-to-end tour (grows with the node)."""

from __future__ import annotations

import os

import click

from crypto import DEFAULT_SUITE
from matcher.psi import Mode, PsiSession, Role
from node.bench.psi import run_in_memory
from node.cli.app import main

__all__ = ["demo"]

_NL = ["+31612345678", "+40721000111", "X1234567", "anna.k@example.org"]
_RO = ["+40721000111", "+40744555666", "X1234567", "ion.p@example.ro"]


@main.command()
def demo() -> None:
    """Run two agencies' PSI sessions in memory and print what each side learns.

    \b
    Example:
      casebridge demo
    """
    secret = os.urandom(32)
    nl = DEFAULT_SUITE.hash_keys(secret, [("id", v) for v in _NL])
    ro = DEFAULT_SUITE.hash_keys(secret, [("id", v) for v in _RO])
    for mode in Mode:
        a = PsiSession(
            role=Role.INITIATOR, suite=DEFAULT_SUITE, elements=nl, random_bytes=os.urandom, mode=mode
        )
        b = PsiSession(role=Role.RESPONDER, suite=DEFAULT_SUITE, elements=ro, random_bytes=os.urandom)
        wire = run_in_memory(a, b)
        assert a.result is not None and b.result is not None
        click.echo(f"{mode.value}: {wire} bytes crossed; intersection size {a.result.intersection_size}")
        if a.result.matched is not None and b.result.matched is not None:
            click.echo(f"  NL-NP learns its matched entries: {sorted(a.result.matched)}")
            click.echo(f"  RO-DIICOT learns its matched entries: {sorted(b.result.matched)}")

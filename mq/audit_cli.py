"""Audit sub-commands of `mq` (exceptions and their sign-off)."""
from __future__ import annotations

COMMANDS: frozenset[str] = frozenset()


def add_commands(sub, date_type) -> None:
    """Register the audit sub-commands on the `mq` parser."""


def run(args) -> int:
    raise NotImplementedError(args.command)

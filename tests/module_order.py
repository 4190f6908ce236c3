"""Run the suite's modules in another order, to find tests that depend on what ran before them.

`ZKRISK_TEST_ORDER` = `file` (default: pytest's order), `reverse`, or `shuffle:<seed>` (any integer;
the same seed gives the same order). Whole modules move, each keeping its tests in file order: module-
scoped fixtures and tests that build on the previous one in their file stay valid, while every
dependence on another module's session state (chain, caches, globals) is exposed.
"""

from __future__ import annotations

import random
from typing import Sequence, TypeVar

import pytest

ENV_VAR = "ZKRISK_TEST_ORDER"
Item = TypeVar("Item", bound=pytest.Item)


def parse_order(spec: str) -> tuple[str, int | None]:
    """("file" | "reverse" | "shuffle", seed) from the variable's value; a typo is an error, not the default."""
    mode, _, seed = spec.partition(":")
    if mode in ("file", "reverse") and not seed:
        return mode, None
    if mode == "shuffle" and seed.lstrip("-").isdigit():
        return mode, int(seed)
    raise pytest.UsageError(f"{ENV_VAR}={spec!r}: expected file, reverse or shuffle:<integer seed>")


def order_modules(items: Sequence[Item], spec: str) -> list[Item]:
    """`items` grouped by module (file order kept inside each), the modules in the order `spec` asks for."""
    mode, seed = parse_order(spec)
    modules: dict[object, list[Item]] = {}
    for item in items:
        modules.setdefault(item.path, []).append(item)
    groups = list(modules.values())
    if mode == "reverse":
        groups.reverse()
    elif mode == "shuffle":
        random.Random(seed).shuffle(groups)
    return [item for group in groups for item in group]

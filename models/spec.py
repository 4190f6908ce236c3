"""The risk model contract: markets, the per-market input vector and the public-instance layout.

This is the one place the layout is written down; the prover decodes with it and the Solidity side
(`contracts/libraries/RiskInstances.sol`) mirrors it, checked by a test.

Input vector of one market (one ONNX input tensor of shape [1, F], hashed by EZKL with Poseidon):

    [market_id, epoch, feature_1, ..., feature_{F-2}]

`market_id` and `epoch` are not used by the network; they sit in the hashed tensor so that the
commitment posted for (market, epoch) binds the window to that market and that epoch.

Public instances of a proof over K markets (EZKL order: input hashes first, then outputs):

    [hash_1, ..., hash_K, out_1[0..N), ..., out_K[0..N)]     with N = len(OUTPUTS)

Each output is a fixed-point field element: value = signed(felt) / 2**output_scale, where
signed(felt) = felt - FIELD_MODULUS when felt > FIELD_MODULUS // 2. On chain the values are kept in
WAD (1e18): wad = signed(felt) * 1e18 // 2**output_scale, floor division (Solidity rounds the same
way for the non-negative values guardrails admit).
"""

from __future__ import annotations

from typing import Final

FIELD_MODULUS: Final = 21888242871839275222246405745257275088548364400416034343698204186575808495617
WAD: Final = 10**18

#: Output order in the graph and in the instances; units are fractions (0.05 = 5%).
OUTPUTS: Final = ("vol", "var99", "es99", "lt", "cr")
OUTPUT_INDEX: Final = {name: i for i, name in enumerate(OUTPUTS)}
#: Leading entries of every input vector that bind the commitment, not used by the network.
META_FIELDS: Final = ("market_id", "epoch")

#: Market symbol → on-chain market id. Adding a market is adding a line here and its data source.
MARKETS: Final = {"BTC": 1, "ETH": 2}


def market_id(symbol: str) -> int:
    try:
        return MARKETS[symbol.upper()]
    except KeyError:
        raise KeyError(f"unknown market {symbol!r}; known: {', '.join(MARKETS)}") from None


def instance_count(k: int) -> int:
    """Number of public instances in a proof over k markets."""
    return k + k * len(OUTPUTS)


def signed_felt(felt: int) -> int:
    return felt - FIELD_MODULUS if felt > FIELD_MODULUS // 2 else felt


def felt_to_wad(felt: int, output_scale: int) -> int:
    """Decode one output instance to WAD exactly as RiskInstances.sol does."""
    value = signed_felt(felt)
    sign = -1 if value < 0 else 1
    return sign * ((abs(value) * WAD) >> output_scale)


def split_instances(instances: list[int], k: int) -> tuple[list[int], list[list[int]]]:
    """Return (input hashes, per-market output felts) from a flat instance list."""
    expected = instance_count(k)
    if len(instances) != expected:
        raise ValueError(f"expected {expected} instances for {k} markets, got {len(instances)}")
    width = len(OUTPUTS)
    hashes = instances[:k]
    outputs = [instances[k + i * width: k + (i + 1) * width] for i in range(k)]
    return hashes, outputs

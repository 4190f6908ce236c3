"""Gas of the OptionsMarginEngine for 1-, 5- and 20-leg portfolios on anvil; writes JSON and a docs/gas.md section.

    python scripts/bench_options_gas.py [--legs 1,5,20] [--json bench-results/options_gas.json] [--out docs/gas.md]
                                        [--previous LABEL]

For each size N a fresh engine (the tests' deployment: TestRiskParameterSource with the proved BTC shocks,
TestPriceFeed, TestToken) gets a maker and a taker who trade N BTC series (strikes 50k-88k, expiries 3-180
days, calls and puts, alternating long/short, so every leg is live and off the cheap deep-OTM path); the
N-th trade is measured, then the margin reads, a withdrawal (IM check), a full liquidation after a spot
jump (N legs moved, liquidator's IM check) and one settlement. Transactions: gas used by the receipt;
reads: eth_estimateGas including the 21,000 intrinsic gas. The section between the options-gas markers
in docs/gas.md is replaced (scripts/gas_report.py keeps it when it rewrites the file); with `--previous
LABEL` the numbers it replaces stay beside the new ones, in columns headed LABEL (after a change to the
engine, so the doc shows what it cost).

It runs on its own anvil without step tracing (`options_helpers.untraced_chain`: the tracer ape-foundry
turns on keeps a copy of memory for every opcode, and 20-leg margin checks exhaust the machine).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # ape_isolation, which options_helpers uses
sys.path.insert(0, str(REPO_ROOT / "tests" / "contracts"))  # the tests' deployment of the engine

from prover.toolchain import ensure_node_tools_on_path, install_solc_shim  # noqa: E402

from gas_sections import markers, replace_section, section_text  # noqa: E402  (scripts/, the script's own folder)

SECTION = "options-gas"
BEGIN, END = markers(SECTION)
DAY = 86_400


def portfolio(n: int, start: int) -> list[tuple[int, float, bool, float]]:
    """N legs: (expiry, strike, is_call, maker size)."""
    expiries = [3, 7, 14, 30, 60, 90, 180]
    return [(start + expiries[i % len(expiries)] * DAY + 3_600 * i, 50_000.0 + 2_000 * i, i % 2 == 0,
             -1.0 if i % 3 == 2 else 1.0) for i in range(n)]


def measure(n: int) -> dict[str, int]:
    from ape import accounts, chain, project

    from options_helpers import BTC, SPOTS, deploy_options, sid

    owner, maker, taker, liquidator = accounts.test_accounts[:4]
    desk = deploy_options(project, owner, chain_id=chain.chain_id)
    for account in (maker, taker, liquidator):
        desk.fund(account, 10_000_000, owner)
    start = chain.blocks.head.timestamp
    legs = portfolio(n, start)
    rows: dict[str, int] = {}
    for i, (expiry, strike, is_call, size) in enumerate(legs):
        tx = desk.trade(maker, taker, sid(BTC, expiry, strike, is_call), size, -size * 1_000, start + DAY)
        if i == n - 1:
            rows["trade (adds the N-th leg; IM of both accounts)"] = tx.gas_used
    engine = desk.engine
    rows["accountMargin (view: IM and MM)"] = engine.accountMargin.estimate_gas_cost(taker.address, sender=owner)
    rows["isLiquidatable (view: MM only)"] = engine.isLiquidatable.estimate_gas_cost(taker.address, sender=owner)
    margin = engine.accountMargin(taker.address)
    rows["withdraw (IM check)"] = engine.withdraw((margin.equity - margin.initialMargin) // 2, sender=taker).gas_used
    desk.source.setStale(BTC, True, sender=owner)  # the static grid: wider, and the same code path
    rows["accountMargin, static grid (view)"] = engine.accountMargin.estimate_gas_cost(taker.address, sender=owner)
    desk.source.setStale(BTC, False, sender=owner)
    margin = engine.accountMargin(taker.address)
    engine.withdraw(min(margin.cash, margin.equity - margin.initialMargin) * 99 // 100, sender=taker)
    desk.set_spot(BTC, SPOTS[BTC] * 2.0, owner)
    if engine.isLiquidatable(taker.address):
        fraction = engine.maxLiquidationFraction(taker.address)
        rows["liquidate (N legs moved; liquidator IM)"] = engine.liquidate(taker.address, fraction,
                                                                           sender=liquidator).gas_used
    expiry, strike, is_call, _ = legs[0]
    chain.mine(timestamp=expiry + 1)
    desk.set_spot(BTC, SPOTS[BTC], owner)
    first = sid(BTC, expiry, strike, is_call)
    holder = taker if engine.sizeOf(taker.address, first) else liquidator
    rows["settle (first of a series: fixes the price)"] = engine.settle(holder.address, first, sender=owner).gas_used
    return rows


def legs_label(n: int) -> str:
    return f"{n} leg{'s' if n > 1 else ''}"


def gas_cell(rows: dict[str, int], op: str) -> str:
    return f"{rows[op]:,}" if op in rows else "n/a"


def markdown(results: dict[int, dict[str, int]], previous: tuple[str, dict[int, dict[str, int]]] | None = None) -> str:
    """The section; `previous` (label, results) adds a column beside each size with the earlier figure."""
    from models.options import IM_SCENARIOS, MM_SCENARIOS

    initial, maintenance = int(IM_SCENARIOS.sum()), int(MM_SCENARIOS.sum())
    sizes = sorted(results)
    operations = list(dict.fromkeys(op for n in sizes for op in results[n]))
    header = [legs_label(n) for n in sizes]
    if previous:
        label, before = previous
        header = [h for n in sizes for h in (legs_label(n), f"{legs_label(n)}, {label}")]
    lines = [BEGIN, "## Options margin engine", "",
             "Measured by `python scripts/bench_options_gas.py`: one market (BTC), N live legs per account,",
             f"{initial} scenarios per leg for IM (the {maintenance} MM ones plus {initial - maintenance} at IM vol up, "
             "repriced only where",
             f"its 0.5 floor binds), {maintenance} for MM alone, each a Black-Scholes revaluation one day later, "
             "plus the mark.",
             "Transactions: receipt gas; reads: eth_estimateGas with the 21,000 intrinsic gas.", "",
             "| operation | " + " | ".join(header) + " |", "| --- |" + " ---: |" * len(header)]
    for op in operations:
        cells = [gas_cell(results[n], op) for n in sizes]
        if previous:
            cells = [c for n, new in zip(sizes, cells) for c in (new, gas_cell(before.get(n, {}), op))]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    return "\n".join(lines + ["", END]) + "\n"


def section_results(path: Path) -> dict[int, dict[str, int]]:
    """The figures of the section's own table in `path` (its first column per size, as `markdown` writes
    it), to keep beside a new measurement."""
    text = section_text(path, SECTION)
    if text is None:
        return {}
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    header, _rule, *body = [[cell.strip() for cell in row] for row in rows]
    columns = {i: int(name.split()[0]) for i, name in enumerate(header) if name.split()[-1] in ("leg", "legs")}
    return {n: {row[0]: int(row[i].replace(",", "")) for row in body if row[i] != "n/a"}
            for i, n in columns.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--legs", default="1,5,20")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench-results" / "options_gas.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gas.md")
    parser.add_argument("--previous", metavar="LABEL", help="keep the figures being replaced beside the new ones")
    args = parser.parse_args()
    ensure_node_tools_on_path()
    install_solc_shim()
    from options_helpers import untraced_chain

    with untraced_chain():
        results = {n: measure(n) for n in (int(x) for x in args.legs.split(","))}
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps({str(n): rows for n, rows in results.items()}, indent=2) + "\n")
    section = markdown(results, (args.previous, section_results(args.out)) if args.previous else None)
    replace_section(args.out, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()

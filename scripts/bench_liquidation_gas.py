"""Gas of LiquidationRiskView.liquidationProbability by health factor and horizon on anvil; writes JSON and
a docs/gas.md section.

    python scripts/bench_liquidation_gas.py [--health 1.02,1.1,1.5,3.0] [--hours 1,24,168]
                                            [--json bench-results/liquidation_gas.json] [--out docs/gas.md]

The tests' deployment (chain_helpers.deploy_test_system: the oracle with the production card's guards
and a test-verifier lending model; lending_helpers: the LendingMarket on BTC) takes one
proved-path update (`submitUpdate`, guards applied) carrying what the production model forecasts from
the latest bundled BTC window, stepping from the stored policy state; the view is deployed with the
card's liquidation calibration (vol scale, nu). One borrower's debt stays fixed and the collateral price
is set for each health factor. Each read is eth_estimateGas, which includes the 21,000 intrinsic gas and
the calldata; the pure library (LiquidationMathHarness.firstPassage on the same vol and calibration) is
measured the same way. The section between the liquidation-gas markers in docs/gas.md is replaced
(scripts/gas_sections.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
sys.path.insert(0, str(REPO_ROOT / "tests"))  # ape_isolation, which options_helpers uses
sys.path.insert(0, str(REPO_ROOT / "tests" / "contracts"))  # the tests' deployment of oracle and market

from prover.toolchain import ensure_node_tools_on_path, install_solc_shim  # noqa: E402

from gas_sections import markers, replace_section  # noqa: E402  (scripts/, the script's own folder)

SECTION = "liquidation-gas"
BEGIN, END = markers(SECTION)
#: the borrower's debt (debt units); the price sets the health factor
DEBT = 20_000
LIQUIDATABLE = 0.99


def forecast(oracle) -> tuple[float, ...]:
    """The production model's lending outputs for the latest BTC window, from the oracle's stored state."""
    from chain_helpers import BTC
    from models.spec import LENDING
    from models.versions import load_version
    from oracle.chain.deploy import stored_state

    version = load_version()
    row = version.predict(version.input_vector("BTC")[None, :], stored_state(oracle, LENDING, [BTC]))
    return tuple(float(v) for v in row[0, :len(LENDING.names)])


def measure(health_factors: list[float], hours: list[int]) -> dict:
    from ape import accounts, chain, project

    from chain_helpers import BTC, START_EPOCH, deploy_test_system, report, submit, wad
    from lending_helpers import deploy_market, deploy_tokens, set_price
    from models.liquidation import LiquidationModel
    from models.spec import LENDING
    from models.versions import PRODUCTION, load_card

    owner, *publishers, keeper, _, guardian, borrower, empty = accounts.test_accounts[:9]
    system = deploy_test_system(owner, publishers, guardian, project.TestVerifier.deploy(sender=owner), chain)
    oracle = system.oracle
    values = forecast(oracle)
    submit(oracle, keeper, publishers[:2], [report(BTC, START_EPOCH)], [values])
    stored, *_ = oracle.getParameters(BTC, LENDING.layout_id)
    vol = int(stored[LENDING.index["vol"]])
    tokens = deploy_tokens(project, owner)
    collateral, debt, _ = tokens
    market = deploy_market(project, oracle, owner, tokens)
    model = LiquidationModel.from_card(load_card(*PRODUCTION))
    calibration = (wad(model.vol_scale), wad(model.nu))
    view = project.LiquidationRiskView.deploy(market.address, oracle.address, BTC, *calibration, sender=owner)
    harness = project.LiquidationMathHarness.deploy(sender=owner)
    debt.mint(market.address, wad(10 * DEBT), sender=owner)
    collateral.mint(borrower.address, wad(1), sender=owner)
    collateral.approve(market.address, 2**256 - 1, sender=borrower)
    market.depositCollateral(wad(1), sender=borrower)
    market.borrow(wad(DEBT), sender=borrower)
    lt, source = market.liquidationParameters()
    assert source == 0, "the market fell back from the oracle's LT"  # ILendingMarket.Source.ORACLE
    lt /= 10**18
    rows = []
    for h in health_factors:
        set_price(tokens, owner, h * DEBT / lt)
        for t in hours:
            probability, health = view.liquidationProbability(borrower.address, t)
            rows.append({"health_factor": h, "hours": t, "on_chain_health_factor": health / 10**18,
                         "probability": probability / 10**18,
                         "view_gas": view.liquidationProbability.estimate_gas_cost(borrower.address, t, sender=owner),
                         "library_gas": harness.firstPassage.estimate_gas_cost(wad(h), vol, t, *calibration, sender=owner)})
    # below 1 firstPassage returns before its math: the floor of each column
    set_price(tokens, owner, LIQUIDATABLE * DEBT / lt)
    floor = {"view_gas": view.liquidationProbability.estimate_gas_cost(borrower.address, 24, sender=owner),
             "library_gas": harness.firstPassage.estimate_gas_cost(wad(LIQUIDATABLE), vol, 24, *calibration,
                                                                   sender=owner)}
    return {"forecast": dict(zip(LENDING.names, values)), "vol_served": vol / 10**18, "lt_served": lt,
            "vol_scale": model.vol_scale, "nu": model.nu, "rows": rows, "liquidatable": floor,
            "no_debt_gas": view.liquidationProbability.estimate_gas_cost(empty.address, 24, sender=owner)}


def markdown(result: dict) -> str:
    lines = [BEGIN, "## Liquidation probability view", "",
             "Measured by `python scripts/bench_liquidation_gas.py`: `LiquidationRiskView.liquidationProbability`",
             f"on the BTC lending market, served the production model's forecast (one-day vol {result['vol_served']:.4f},",
             f"LT {result['lt_served']:.4f}) through the proved path, calibration vol scale {result['vol_scale']:.3f},"
             f" nu {result['nu']:.2f};",
             "`firstPassage` is the library alone (LiquidationMathHarness). eth_estimateGas, with the 21,000",
             "intrinsic gas and the calldata.", "",
             "| health factor | horizon h | P | view | library alone | view − library |",
             "| ---: | ---: | ---: | ---: | ---: | ---: |"]
    for row in result["rows"]:
        lines.append(f"| {row['health_factor']:g} | {row['hours']} | {row['probability']:.3g} | {row['view_gas']:,} | "
                     f"{row['library_gas']:,} | {row['view_gas'] - row['library_gas']:,} |")
    floor = result["liquidatable"]
    lines.append(f"| {LIQUIDATABLE:g} (liquidatable: no math) | 24 | 1 | {floor['view_gas']:,} | {floor['library_gas']:,} | "
                 f"{floor['view_gas'] - floor['library_gas']:,} |")
    lines.append(f"| no debt (returns before the market's LT and price) | 24 | 0 | {result['no_debt_gas']:,} | — | — |")
    return "\n".join(lines + ["", END]) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--health", default="1.02,1.1,1.5,3.0", help="health factors of the borrower")
    parser.add_argument("--hours", default="1,24,168", help="horizons")
    parser.add_argument("--json", type=Path, default=REPO_ROOT / "bench-results" / "liquidation_gas.json")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs" / "gas.md")
    args = parser.parse_args()
    ensure_node_tools_on_path()
    install_solc_shim()
    from options_helpers import untraced_chain

    with untraced_chain():
        result = measure([float(x) for x in args.health.split(",")], [int(x) for x in args.hours.split(",")])
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n")
    section = markdown(result)
    replace_section(args.out, SECTION, section)
    print(section)


if __name__ == "__main__":
    main()

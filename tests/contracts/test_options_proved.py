"""End to end for the options layout: one real har-margin proof updates BTC's and ETH's shocks on a
RiskOracle (publisher-signed reports, EZKL's reusable verifier), an OptionsMarginEngine reads them, and
its margin of a posted portfolio equals models/options.py on the proved values within 1e-12 of gross
notional (the tolerance of test_options_margin.py)."""

from __future__ import annotations

import numpy as np
import pytest

from chain_helpers import BTC, DAY, ETH, set_time, sign
from models.options import Position, ScenarioGrid, portfolio_margin
from models.spec import OPTIONS
from models.versions import OPTIONS_PRODUCTION, load_version
from options_helpers import FEED_DECIMALS, MAX_PRICE_AGE, OptionsDeployment, from_wad, sid, untraced_chain_fixtures
from oracle.chain.deploy import deploy_system, model_config_for_circuit, submit_update
from oracle.reports import Report, data_hash

pytestmark = [pytest.mark.slow, pytest.mark.chain]

MARGIN_TOLERANCE = 1e-12
MODEL_ID = 21
SYMBOLS = {BTC: "BTC", ETH: "ETH"}

# margin checks are millions of opcodes: an anvil of our own without step tracing (options_helpers)
own_chain, _function_isolation = untraced_chain_fixtures()


@pytest.fixture(scope="module")
def margin_proof():
    from prover.circuit import build_circuit
    from prover.proving import prove

    circuit = build_circuit(load_version(*OPTIONS_PRODUCTION), 2)
    vectors = np.stack([circuit.version.input_vector(SYMBOLS[m]) for m in (BTC, ETH)])
    return circuit, prove(circuit, vectors)


@pytest.fixture(scope="module")
def desk(own_chain, project, accounts, chain, margin_proof):
    """A RiskOracle serving the options model, updated once by the proof, and an engine reading it."""
    circuit, proof = margin_proof
    owner, publishers, keeper = accounts[0], accounts[1:4], accounts[4]
    system = deploy_system(owner, publishers, [model_config_for_circuit(circuit, MODEL_ID, [BTC, ETH])], quorum=2,
                           hand_over=False)
    version = circuit.version
    data = {m: version.window_data(SYMBOLS[m]) for m in (BTC, ETH)}
    reports = [Report(int(v[0]), int(v[1]), h.to_bytes(32, "big"), data_hash(data[int(v[0])]), int(v[1]) * DAY)
               for v, h in zip(proof.vectors, proof.input_hashes)]
    set_time(chain, reports[0].observed_at + 3_600)
    token = project.TestToken.deploy("USD Coin", "USDC", sender=owner)
    spots = {m: float(data[m].hourly["close"].iloc[-1]) for m in (BTC, ETH)}
    feeds = {m: project.TestPriceFeed.deploy(FEED_DECIMALS, int(round(s * 10**FEED_DECIMALS)), sender=owner)
             for m, s in spots.items()}
    engine = project.OptionsMarginEngine.deploy(token.address, system.oracle.address,
                                                [(m, f.address) for m, f in feeds.items()], MAX_PRICE_AGE,
                                                10**17, sender=owner)
    receipt = submit_update(system.oracle, keeper, MODEL_ID, reports, sign(publishers[:2], system.oracle, reports),
                            proof.proof, proof.instances)
    options = OptionsDeployment(engine=engine, token=token, source=system.oracle, feeds=feeds, chain_id=chain.chain_id)
    maker, taker = accounts[7], accounts[8]
    for account in (maker, taker):
        options.fund(account, 1_000_000, owner)
    return options, proof, spots, receipt, maker, taker


def test_one_proof_updates_both_markets_shocks_and_the_engine_uses_them(desk):
    options, proof, _, receipt, _, _ = desk
    assert receipt.status == 1
    for index, market in enumerate((BTC, ETH)):
        shocks, static = options.engine.marketShocks(market)
        assert not static
        assert list(shocks) == [proof.markets[index].wad[name] for name in OPTIONS.names]


def test_engine_margin_of_a_posted_portfolio_equals_the_python_reference_on_the_proved_shocks(desk, chain):
    options, proof, spots, _, maker, taker = desk
    now = chain.blocks.head.timestamp
    legs = [(BTC, round(spots[BTC], -3), True, 7, -1.0), (BTC, round(spots[BTC], -3), False, 7, -1.0),
            (ETH, round(spots[ETH] * 0.9, -2), False, 30, 2.0), (ETH, round(spots[ETH] * 1.1, -2), True, 30, -3.0)]
    positions = []
    for market, strike, is_call, days, size in legs:
        expiry = now + days * DAY
        options.trade(maker, taker, sid(market, expiry, strike, is_call), -size, -50.0 if size < 0 else 50.0,
                      now + 3_600)
        positions.append(Position(market, strike, expiry, is_call, size))
    head = chain.blocks.head.timestamp
    grids = {m: ScenarioGrid.select(proof.markets[i].values, live=True) for i, m in enumerate((BTC, ETH))}
    reference = portfolio_margin(positions, spots, grids, head)
    margin = options.engine.accountMargin(taker.address)
    tolerance = MARGIN_TOLERANCE * sum(abs(size) * spots[m] for m, _, _, _, size in legs)
    assert not margin.staticGrid
    assert from_wad(margin.initialMargin) == pytest.approx(reference.initial, abs=tolerance)
    assert from_wad(margin.maintenanceMargin) == pytest.approx(reference.maintenance, abs=tolerance)
    assert from_wad(margin.markValue) == pytest.approx(reference.mark_value, abs=tolerance)

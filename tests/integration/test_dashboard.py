"""The dashboard in a real browser (Playwright driving Debian's chromium) against the FastAPI app on
localhost: after a lending and an options update are published on anvil (signed reports, real
proofs), the markets table shows the lending policy (max LTV, CR = 1 / max LTV, LT) read from the
chain, the shocks table the options model's proved shocks, the scenario grid the margin that
models.options computes from them, the history chart the CR/LT points, and a guardian pause is
announced. The test saves a screenshot under artifacts/ and prints its path."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import uvicorn

from models.options import (IM_SCENARIOS, MM_SCENARIOS, SHOCK_NAMES, VOL_LEVELS, Position, ScenarioGrid,
                            scenario_table)
from models.spec import MARKETS, OPTIONS
from models.versions import OPTIONS_PRODUCTION, load_version
from oracle.api import create_app
from oracle.chain.deploy import (LOCAL_GOVERNANCE, card_guards, deploy_system, model_config_for_circuit,
                                 stored_state, submit_update)
from oracle.reports import Domain, Report, data_hash, sign_reports
from oracle.settings import Settings
from prover.circuit import build_circuit, circuits_root
from prover.proving import prove
from prover.toolchain import free_port

pytestmark = [pytest.mark.slow, pytest.mark.chain]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"
LENDING_MODEL, OPTIONS_MODEL = 1, 11
DAY = 86_400
#: The page shows losses and margins with three decimals of a percent, moves and vols with two.
SHOWN_LOSS, SHOWN_MOVE = 0.5e-5 + 1e-12, 0.5e-4 + 1e-12
#: The endpoint's numbers against the same computation here: only another CPU's last bits may differ.
RECOMPUTED = 1e-12
GRID_KEYS = {"portfolio", "description", "static", "shocks", "seconds_to_expiry", "vol_levels", "spot_moves",
             "vols", "losses", "initial_scenarios", "maintenance_scenarios", "mark_value", "initial_margin",
             "maintenance_margin", "short_contingency", "worst_initial", "worst_maintenance"}


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def options_circuit():
    version = load_version(*OPTIONS_PRODUCTION)
    return build_circuit(version, 1, circuits_dir=circuits_root(version, 1))


@pytest.fixture
def served(tmp_path, chain, accounts, circuit_k1, options_circuit):
    """Both models deployed (2-of-3 publishers) and the service's app on a free port, reading that chain."""
    deployer, *publishers, keeper = accounts[:5]
    circuits = {LENDING_MODEL: circuit_k1, OPTIONS_MODEL: options_circuit}
    deployment = deploy_system(deployer, publishers, [model_config_for_circuit(c, i) for i, c in circuits.items()],
                               quorum=2, governance=LOCAL_GOVERNANCE,
                               guards={c.version.layout.layout_id: card_guards(c.version.card)
                                       for c in circuits.values()})
    manifest = tmp_path / "deployment.json"
    from oracle.chain.deploy import project

    abis = {name: getattr(project(), name).contract_type.model_dump(mode="json", by_alias=True)["abi"]
            for name in ("RiskOracle", "RiskGovernor")}
    manifest.write_text(json.dumps({**deployment.to_manifest(), "chain_id": chain.chain_id, "abis": abis}))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'oracle.db'}", broker_url="memory://",
                        embedded_worker=False, start_anvil=False, rpc_url=chain.provider.http_uri,
                        deployment_path=manifest)
    server = uvicorn.Server(uvicorn.Config(create_app(settings), host="127.0.0.1", port=free_port(),
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.1)
    yield deployment, publishers, keeper, circuits, f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


def publish(deployment, publishers, keeper, chain, circuit, model_id: int, symbol: str):
    """Prove the market's latest window from the stored state and submit it with two signatures."""
    version = circuit.version
    vector = version.input_vector(symbol)
    epoch = int(vector[1])
    chain.provider.make_request("anvil_setTime", [epoch * DAY + 3_600])
    chain.mine()
    state = stored_state(deployment.oracle, version.layout, [MARKETS[symbol]])
    proof = prove(circuit, vector[None, :], state)
    report = Report(MARKETS[symbol], epoch, proof.input_hashes[0].to_bytes(32, "big"),
                    data_hash(version.window_data(symbol)), epoch * DAY)
    domain = Domain(chain.chain_id, deployment.oracle.address)
    signatures = [sign_reports(p.private_key, domain, [report]) for p in publishers[:2]]
    return submit_update(deployment.oracle, keeper, model_id, [report], signatures, proof.proof, proof.instances)


def test_markets_and_shocks_show_on_chain_values_after_updates(served, browser, chain):
    from playwright.sync_api import expect

    deployment, publishers, keeper, circuits, url = served
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(f"{url}/dashboard")
    btc = page.locator('#markets tr[data-market="BTC"]')
    expect(btc.locator("td.status")).to_have_text("no data", timeout=30_000)

    receipt = publish(deployment, publishers, keeper, chain, circuits[LENDING_MODEL], LENDING_MODEL, "BTC")
    stored = deployment.oracle.getRiskParameters(MARKETS["BTC"])
    # the page polls: the new on-chain values appear without a reload
    expect(btc.locator("td.max_ltv")).to_have_text(f"{int(stored.maxLtv) / 1e16:.2f}%", timeout=30_000)
    expect(btc.locator("td.cr")).to_have_text(f"{1e18 / int(stored.maxLtv) * 100:.2f}%")
    expect(btc.locator("td.lt")).to_have_text(f"{int(stored.liquidationThreshold) / 1e16:.2f}%")
    expect(btc.locator("td.epoch")).to_have_text(str(int(stored.epoch)))
    expect(btc.locator("td.status")).to_have_text("fresh")
    latest = page.locator("#updates tbody tr").first
    expect(latest.locator("code")).to_have_attribute("title", str(receipt.txn_hash))
    expect(latest).to_contain_text("verified on-chain in submitUpdate")
    expect(latest).to_contain_text(f"{int(receipt.gas_used):,}")
    expect(page.locator("#history svg polyline")).to_have_count(2)  # CR and LT of BTC; ETH has no update yet

    publish(deployment, publishers, keeper, chain, circuits[OPTIONS_MODEL], OPTIONS_MODEL, "BTC")
    values, _, epoch, _ = deployment.oracle.getParameters(MARKETS["BTC"], OPTIONS.layout_id)
    shocks = page.locator('#shocks tr[data-market="BTC"]')
    for name, value in zip(OPTIONS.names, values):
        expect(shocks.locator(f"td.{name}")).to_have_text(f"{int(value) / 1e16:.2f}%", timeout=30_000)
    expect(shocks.locator("td.epoch")).to_have_text(str(int(epoch)))
    expect(page.locator('#shocks tr[data-market="ETH"] td.status')).to_have_text("no data")
    expect(page.locator("#updates tbody tr").first).to_contain_text(OPTIONS.name)
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"dashboard screenshot: {screenshot}")

    deployment.oracle.pause(sender=deployment.guardian)
    expect(page.locator("#status")).to_contain_text("UPDATES PAUSED", timeout=30_000)
    page.close()


def percents(texts: list[str]) -> list[float]:
    return [float(text.rstrip("%")) / 100 for text in texts]


def short_straddle_30d(market_id: int, now: int) -> list[Position]:
    """The dashboard's reference book at spot 1: short one ATM call and one ATM put, 30 days."""
    return [Position(market_id, 1.0, now + 30 * DAY, is_call, -1.0) for is_call in (True, False)]


def assert_grid_drawn(box, table) -> None:
    """The grid drawn in `box` is `table`: every number as rounded on the page, every scenario's class."""
    spot_moves = box.locator("thead th.spot-move").all_text_contents()
    assert percents(spot_moves) == pytest.approx(table.spot_moves.tolist(), abs=SHOWN_MOVE)
    marks = {}
    for i, level in enumerate(VOL_LEVELS):
        row = box.locator(f'tbody tr[data-level="{level}"]')
        assert percents(row.locator("th .vol").all_text_contents()) == pytest.approx([table.vols[i]], abs=SHOWN_MOVE)
        assert percents(row.locator("td .loss").all_text_contents()) == pytest.approx(table.losses[i].tolist(),
                                                                                     abs=SHOWN_LOSS)
        cells = row.locator("td").all()
        assert [cell.get_attribute("class") for cell in cells] == [
            "mm" if MM_SCENARIOS[i, j] else "im" if IM_SCENARIOS[i, j] else "unused" for j in range(len(cells))]
        for j, cell in enumerate(cells):
            marks.update({name: (i, j) for text in cell.locator(".worst").all_text_contents() for name in text.split()})
    assert marks == {"IM": table.worst_initial, "MM": table.worst_maintenance}
    assert percents([box.locator(".initial-margin").text_content()]) == pytest.approx([table.margin.initial],
                                                                                       abs=SHOWN_LOSS)
    assert percents([box.locator(".maintenance-margin").text_content()]) == pytest.approx(
        [table.margin.maintenance], abs=SHOWN_LOSS)


def test_scenario_grid_is_models_options_grid_of_the_on_chain_shocks(served, browser, chain):
    from playwright.sync_api import expect

    deployment, publishers, keeper, circuits, url = served
    page = browser.new_page(viewport={"width": 1280, "height": 1600})
    page.goto(f"{url}/dashboard")
    btc, eth = (page.locator(f'#grids .chart[data-market="{symbol}"]') for symbol in ("BTC", "ETH"))
    expect(btc).to_have_attribute("data-grid", "static", timeout=30_000)  # no shocks yet: the engine's fallback

    publish(deployment, publishers, keeper, chain, circuits[OPTIONS_MODEL], OPTIONS_MODEL, "BTC")
    values, _, epoch, _ = deployment.oracle.getParameters(MARKETS["BTC"], OPTIONS.layout_id)
    shocks = {name: int(value) / 1e18 for name, value in zip(OPTIONS.names, values)}
    now = chain.blocks.head.timestamp
    proved = scenario_table(short_straddle_30d(MARKETS["BTC"], now), 1.0, ScenarioGrid.from_shocks(shocks), now)
    expect(btc).to_have_attribute("data-grid", "proved", timeout=30_000)
    expect(btc.locator("h3")).to_have_text(f"BTC: proved grid, epoch {int(epoch)}")
    assert_grid_drawn(btc, proved)
    static = scenario_table(short_straddle_30d(MARKETS["ETH"], now), 1.0, ScenarioGrid.static_grid(), now)
    expect(eth.locator("h3")).to_have_text("ETH: static grid (shocks: no data)")
    assert_grid_drawn(eth, static)

    data = httpx.get(f"{url}/dashboard/data", timeout=30).json()
    grids = {m["symbol"]: m["scenario_grid"] for m in data["markets"]}
    assert set(grids) == set(MARKETS)
    for symbol, expected in (("BTC", proved), ("ETH", static)):
        grid = grids[symbol]
        assert set(grid) == GRID_KEYS
        assert grid["portfolio"] == "short-straddle-30d" and grid["static"] is expected.grid.static
        assert grid["seconds_to_expiry"] == 30 * DAY and grid["vol_levels"] == list(VOL_LEVELS)
        assert list(grid["shocks"]) == list(SHOCK_NAMES)
        np.testing.assert_allclose([grid["shocks"][name] for name in SHOCK_NAMES],
                                   [getattr(expected.grid, name) for name in SHOCK_NAMES], rtol=0, atol=RECOMPUTED)
        assert np.shape(grid["spot_moves"]) == (7,) and np.shape(grid["vols"]) == (4,)
        assert np.shape(grid["losses"]) == np.shape(grid["initial_scenarios"]) == (4, 7)
        assert np.array_equal(grid["initial_scenarios"], IM_SCENARIOS)
        assert np.array_equal(grid["maintenance_scenarios"], MM_SCENARIOS)
        assert (int(np.sum(grid["initial_scenarios"])), int(np.sum(grid["maintenance_scenarios"]))) == (28, 21)
        for key, value in (("spot_moves", expected.spot_moves), ("vols", expected.vols), ("losses", expected.losses)):
            np.testing.assert_allclose(grid[key], value, rtol=0, atol=RECOMPUTED, err_msg=key)
        np.testing.assert_allclose(
            [grid["mark_value"], grid["initial_margin"], grid["maintenance_margin"], grid["short_contingency"]],
            [expected.margin.mark_value, expected.margin.initial, expected.margin.maintenance, expected.contingency],
            rtol=0, atol=RECOMPUTED)
        assert (tuple(grid["worst_initial"]), tuple(grid["worst_maintenance"])) == (
            expected.worst_initial, expected.worst_maintenance)
    np.testing.assert_allclose(grids["BTC"]["shocks"]["ref_iv"], shocks["ref_iv"], rtol=0, atol=RECOMPUTED)

    # paused: the engine margins on the static grid, still marking at the stored reference vol
    deployment.oracle.pause(sender=deployment.guardian)
    expect(btc.locator("h3")).to_have_text("BTC: static grid (oracle paused)", timeout=30_000)
    assert_grid_drawn(btc, scenario_table(short_straddle_30d(MARKETS["BTC"], now), 1.0,
                                          ScenarioGrid.static_grid(shocks["ref_iv"]), now))
    page.close()

"""The dashboard in a real browser (Playwright driving Debian's chromium) against the FastAPI app on
localhost: after a lending and an options update are published on anvil (signed reports, real
proofs), the markets table shows the lending policy (max LTV, CR = 1 / max LTV, LT) read from the
chain, the shocks table the options model's proved shocks, the history chart the CR/LT points, and a
guardian pause is announced. The test saves a screenshot under artifacts/ and prints its path."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn

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

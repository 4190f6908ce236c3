"""The dashboard in a real browser (Playwright driving Debian's chromium) against the FastAPI app on
localhost: after an update is published on anvil, the markets table shows the on-chain values, a
proved proposal appears with its proof status, and a guardian pause is announced. The test saves a screenshot under artifacts/ and
prints its path."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
import uvicorn

from oracle.api import create_app
from oracle.chain.deploy import post_commitment, publish_proved_update
from oracle.governance import Governance
from oracle.settings import Settings
from prover.proving import input_commitment
from prover.toolchain import free_port
from published import MODEL_ID, deploy

pytestmark = [pytest.mark.slow, pytest.mark.chain]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync", "--disable-quic"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def served(tmp_path, chain, accounts, circuit_k1, vka_k1):
    """The deployed system and the service's app on a free port, reading that chain."""
    deployment, publishers, keeper = deploy(accounts, circuit_k1, vka_k1)
    manifest = tmp_path / "deployment.json"
    manifest.write_text(json.dumps(deployment.to_manifest()))
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
    yield deployment, publishers, keeper, manifest, f"http://127.0.0.1:{server.config.port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_markets_table_shows_on_chain_values_after_an_update(served, browser, proved_update, accounts, chain,
                                                             production_version, circuit_k1, tmp_path):
    from playwright.sync_api import expect

    deployment, publishers, keeper, manifest, url = served
    page = browser.new_page(viewport={"width": 1280, "height": 1400})
    page.goto(f"{url}/dashboard")
    btc = page.locator('#markets tr[data-market="BTC"]')
    expect(btc.locator("td.status")).to_have_text("no data", timeout=30_000)

    receipt = publish_proved_update(deployment, publishers[:2], keeper, MODEL_ID, proved_update.proof,
                                    proved_update.instances, proved_update.vectors)
    stored = deployment.oracle.getRiskParameters(1)
    # the page polls: the new on-chain values appear without a reload
    expect(btc.locator("td.cr")).to_have_text(f"{int(stored.collateralRatio) / 1e16:.2f}%", timeout=30_000)
    expect(btc.locator("td.lt")).to_have_text(f"{int(stored.liquidationThreshold) / 1e16:.2f}%")
    expect(btc.locator("td.epoch")).to_have_text(str(int(stored.epoch)))
    expect(btc.locator("td.status")).to_have_text("fresh")
    tx = str(receipt.txn_hash)
    latest = page.locator("#updates tbody tr").first
    expect(latest.locator("code")).to_have_attribute("title", tx)
    expect(latest).to_contain_text("verified on-chain in submitUpdate")
    expect(latest).to_contain_text(f"{int(receipt.gas_used):,}")
    expect(page.locator("#history svg polyline")).to_have_count(2)  # CR and LT of BTC; ETH has no update yet

    # a proved governance proposal for ETH appears among the open proposals with its proof status
    eth = production_version.input_vector("ETH")
    post_commitment(deployment.registry, publishers[:2], 2, int(eth[1]), input_commitment(eth, circuit_k1.input_scale))
    proposal = Governance.from_files(chain.provider.http_uri, manifest, accounts[0].private_key).propose_update(
        "ETH", tmp_path / "proposal.json")
    row = page.locator("#proposals tbody tr").first
    expect(row).to_contain_text("proof verified at proposal time", timeout=30_000)
    expect(row).to_contain_text(f"proved risk update, ETH epoch {int(eth[1])}")
    expect(row.locator("td").first).to_have_attribute("title", str(proposal.proposal_id))
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "dashboard.png"
    page.screenshot(path=str(screenshot), full_page=True)
    print(f"dashboard screenshot: {screenshot}")

    deployment.oracle.pause(sender=deployment.guardian)
    expect(page.locator("#status")).to_contain_text("UPDATES PAUSED", timeout=30_000)
    page.close()

"""A local development chain for the embedded service: anvil started if needed, the system deployed
once with `oracle.chain.deploy.deploy_system`, and the service manifest written.

The service manifest is the deployment's `to_manifest()` plus what the web3 gateway needs and Ape
would otherwise provide: the RPC URL it was deployed through, the contracts' ABIs, each model entry's
version key, and `dev_chain` (the service may move this chain's clock to replay history). Every
configured model version is registered once per batch size on the reusable verifier with its VKA
(model ids: 10 · i + K for the i-th configured version), with its model card's guards per market.

The deployment also carries an OptionsMarginEngine (what `POST /margin` reads) on RiskOracle, with an
18-decimal test stablecoin and a settable price feed per market: a local chain has no real price
oracle, so the service sets each feed to the close the update was proved on when it submits it
(`ChainGateway.set_dev_prices`), at the clock it moved the chain to. Until the first update the feeds
answer a placeholder price of 1.

anvil runs with `--state`, so its chain survives a restart (the fault tests restart it mid-submit).
"""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator
from urllib.parse import urlparse

import requests

from models.spec import MARKETS, WAD
from oracle.chain.deploy import LOCAL_GOVERNANCE, Timing, card_guards, deploy_system, model_config_for_circuit, project
from oracle.errors import ConfigurationError
from oracle.lifecycle import stop_process
from oracle.runtime import Runtimes
from oracle.services import DEV_DEPLOYER, DEV_PUBLISHERS, DEV_QUORUM
from prover.toolchain import anvil_executable, rpc_alive

#: a day-old report is fine (the default), reads stale after three days of no update
DEV_TIMING = Timing()
ABI_CONTRACTS = ("RiskOracle", "RiskGovernor", "OptionsMarginEngine", "TestPriceFeed")
DEV_PRICE_DECIMALS = 8
#: the engine takes a price as long as the oracle's parameters stay fresh
DEV_MAX_PRICE_AGE = DEV_TIMING.staleness_period
DEV_LIQUIDATION_BONUS = WAD // 10


def chain_model_id(index: int, k: int) -> int:
    """On-chain id of the `index`-th configured model version's circuit over K markets."""
    return 10 * index + k


def start_anvil(rpc_url: str, state_path: Path, log_path: Path | None = None) -> subprocess.Popen:
    """Start anvil on the URL's port, its chain kept in `state_path` across restarts; stopped again if
    it does not come up (or the wait is interrupted)."""
    port = urlparse(rpc_url).port or 8545
    state_path.parent.mkdir(parents=True, exist_ok=True)
    log_path = log_path or state_path.with_suffix(".log")
    with open(log_path, "ab") as log:
        process = subprocess.Popen([str(anvil_executable()), "--port", str(port), "--state", str(state_path),
                                    "--state-interval", "1"], stdout=log, stderr=subprocess.STDOUT)
    try:
        for _ in range(200):
            if rpc_alive(rpc_url):
                return process
            if process.poll() is not None:
                raise ConfigurationError(f"anvil exited with {process.returncode}; see {log_path}")
            time.sleep(0.1)
        raise ConfigurationError(f"anvil did not answer on {rpc_url}")
    except BaseException:
        stop_process(process)
        raise


def _code_at(rpc_url: str, address: str) -> bool:
    reply = requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_getCode",
                                         "params": [address, "latest"]}, timeout=5).json()
    return reply.get("result", "0x") not in ("0x", "0x0")


def deployed(manifest_path: Path, rpc_url: str) -> dict[str, Any] | None:
    """The manifest at `manifest_path` if its contracts exist on the chain at `rpc_url`."""
    if not manifest_path.exists():
        return None
    manifest = json.loads(manifest_path.read_text())
    return manifest if _code_at(rpc_url, manifest["contracts"]["RiskOracle"]) else None


def deploy_dev_engine(p: Any, deployer: Any, oracle: Any) -> tuple[Any, dict[int, Any]]:
    """An OptionsMarginEngine on `oracle` for every market, with a test stablecoin and settable price
    feeds (see the module docstring); returns the engine and the feeds by market id."""
    me = {"sender": deployer}
    cash = p.TestToken.deploy("Dev USD", "dUSD", **me)
    feeds = {market: p.TestPriceFeed.deploy(DEV_PRICE_DECIMALS, 1, **me) for market in MARKETS.values()}
    engine = p.OptionsMarginEngine.deploy(cash.address, oracle.address, [(m, f.address) for m, f in feeds.items()],
                                          DEV_MAX_PRICE_AGE, DEV_LIQUIDATION_BONUS, **me)
    return engine, feeds


def deploy_local(rpc_url: str, runtimes: Runtimes, manifest_path: Path) -> dict[str, Any]:
    """Deploy with anvil's development accounts (deployer 0, publishers 1-3 with quorum 2)."""
    from ape import accounts, networks

    with networks.ethereum.local.use_provider("foundry", provider_settings={"host": rpc_url}):
        dev = accounts.test_accounts
        deployer, publishers = dev[DEV_DEPLOYER], [dev[i] for i in DEV_PUBLISHERS]
        configs, keys, guards = [], {}, {}
        for index, runtime in enumerate(runtimes.values()):
            guards[runtime.layout.layout_id] = card_guards(runtime.version.card)
            for k in runtime.batch_sizes:
                config = model_config_for_circuit(runtime.circuit(k), chain_model_id(index, k))
                configs.append(config)
                keys[config.model_id] = runtime.model_key
        deployment = deploy_system(deployer, publishers, configs, quorum=DEV_QUORUM, guards=guards,
                                   timing=DEV_TIMING, governance=LOCAL_GOVERNANCE)
        p = project()
        engine, price_feeds = deploy_dev_engine(p, deployer, deployment.oracle)
        manifest = deployment.to_manifest()
        manifest["contracts"]["OptionsMarginEngine"] = engine.address
        manifest.update(rpc_url=rpc_url, dev_chain=True,
                        dev_price_feeds={str(m): f.address for m, f in price_feeds.items()},
                        abis={name: getattr(p, name).contract_type.model_dump(mode="json", by_alias=True)["abi"]
                              for name in ABI_CONTRACTS})
    for model in manifest["models"]:
        model["model_key"] = keys[model["model_id"]]
    # the gateway and the bundle report the chain id the node reports (Ape may report its own default)
    manifest["chain_id"] = int(requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                            "params": []}, timeout=5).json()["result"], 16)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


@contextmanager
def local_chain(rpc_url: str, runtimes: Runtimes, manifest_path: Path,
                start: bool = True) -> Iterator[dict[str, Any]]:
    """anvil up (started when `start` and nothing answers) and the system deployed on it, for the block;
    yields the manifest. An anvil started here stops when the block ends: normally, on an error (a
    failed deployment included) and on a signal made an exception (`oracle.lifecycle`)."""
    process = None
    if not rpc_alive(rpc_url):
        if not start:
            raise ConfigurationError(f"no node at {rpc_url}")
        process = start_anvil(rpc_url, manifest_path.with_name("anvil-state.json"))
    try:
        yield deployed(manifest_path, rpc_url) or deploy_local(rpc_url, runtimes, manifest_path)
    finally:
        if process is not None:
            stop_process(process)

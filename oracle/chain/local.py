"""A local development chain for the embedded service: anvil started if needed, the system deployed
once with `oracle.chain.deploy.deploy_system`, and the service manifest written.

The service manifest is the deployment's `to_manifest()` plus what the web3 gateway needs and Ape
would otherwise provide: the RPC URL it was deployed through and the contracts' ABIs. One model is
registered per configured batch size (model id = K), each on the reusable verifier with its VKA.

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

from models.features import DAY, epoch_start
from models.spec import MARKETS, OUTPUTS, WAD
from models.versions import ModelVersion
from oracle.chain.deploy import DEFAULT_GUARDRAILS, Guardrail, ModelConfig, Timing, deploy_system, project, register_model
from oracle.errors import ConfigurationError
from oracle.lifecycle import stop_process
from oracle.runtime import ProverRuntime
from oracle.services import DEV_DEPLOYER, DEV_PUBLISHERS, DEV_QUORUM
from prover.evm import vka_words
from prover.toolchain import anvil_executable, rpc_alive

#: development timing: no delay between updates (benchmarks send many), a day-old commitment is fine
DEV_TIMING = Timing(min_update_delay=0, max_commitment_age=86_400, staleness_period=3 * 86_400)
ABI_CONTRACTS = ("RiskOracle", "DataCommitmentRegistry", "RiskGovernor")


def guardrail_compatible_epochs(version: ModelVersion, markets: list[str], count: int, start: int, last: int,
                                guardrails: dict[str, Guardrail] = DEFAULT_GUARDRAILS,
                                margin: float = 0.8) -> list[int]:
    """`count` increasing epochs in start..last at which every market's float-model outputs stay within
    `margin` of each guardrail step from the previous chosen epoch: a replay the deployed oracle
    accepts in order (consecutive days may not be: forecasts can move more than a step allows)."""
    def outputs(epoch: int) -> list[dict[str, float]]:
        vectors = [version.input_vector(m, epoch_start(epoch) - DAY) for m in markets]
        return [dict(zip(OUTPUTS, row)) for row in version.predict(vectors)]

    def within(now: dict[str, float], before: dict[str, float]) -> bool:
        return all(abs(now[n] - before[n]) <= margin * (g.max_change / WAD) * (before[n] if g.relative else 1)
                   for n, g in guardrails.items())

    previous, chosen = None, []
    for epoch in range(start, last + 1):
        values = outputs(epoch)
        if previous is None or all(within(v, p) for v, p in zip(values, previous)):
            chosen.append(epoch)
            previous = values
            if len(chosen) == count:
                return chosen
    raise ConfigurationError(f"{markets}: only {len(chosen)} guardrail-compatible epochs in {start}..{last}")


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


def deploy_local(rpc_url: str, runtime: ProverRuntime, manifest_path: Path) -> dict[str, Any]:
    """Deploy with anvil's development accounts (deployer 0, publishers 1-3 with quorum 2)."""
    from ape import accounts, networks

    with networks.ethereum.local.use_provider("foundry", provider_settings={"host": rpc_url}):
        dev = accounts.test_accounts
        deployer, publishers = dev[DEV_DEPLOYER], [dev[i] for i in DEV_PUBLISHERS]
        configs = [ModelConfig(model_id=k, output_scale=runtime.circuit(k).output_scale,
                               markets=tuple(MARKETS.values()), markets_per_proof=k,
                               vka_words=vka_words(runtime.circuit(k)), label=f"{runtime.model_key} K={k}")
                   for k in runtime.batch_sizes]
        deployment = deploy_system(deployer, publishers, configs[0], quorum=DEV_QUORUM, timing=DEV_TIMING,
                                   hand_over=False)
        for config in configs[1:]:
            register_model(deployment.oracle, config, deployment.verifier, deployer)
            deployment.models.append(config)
        deployment.hand_over_to_timelock()
        p = project()
        manifest = {**deployment.to_manifest(), "rpc_url": rpc_url,
                    "abis": {name: getattr(p, name).contract_type.model_dump(mode="json", by_alias=True)["abi"]
                             for name in ABI_CONTRACTS}}
    # the gateway and the bundle report the chain id the node reports (Ape may report its own default)
    manifest["chain_id"] = int(requests.post(rpc_url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId",
                                                            "params": []}, timeout=5).json()["result"], 16)
    manifest_path.parent.mkdir(parents=True, exist_ok=True)
    manifest_path.write_text(json.dumps(manifest, indent=1))
    return manifest


@contextmanager
def local_chain(rpc_url: str, runtime: ProverRuntime, manifest_path: Path,
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
        yield deployed(manifest_path, rpc_url) or deploy_local(rpc_url, runtime, manifest_path)
    finally:
        if process is not None:
            stop_process(process)

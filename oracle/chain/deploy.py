"""Deploy the zkrisk contracts and submit signed, proved updates.

`deploy_system` deploys, on the connected Ape network: EZKL's reusable verifier (compiled by the
project's solc exactly as `zkrisk audit` reproduces it), the RiskOracle with the publishers and k,
every output layout of models/spec.py, each market's guards per layout (from the model cards' policy
steps), the registered models, the governance stack (ERC20Votes token, RiskTimelock, RiskGovernor)
and AggregatorV3 feeds. The deployer is admin while it wires everything, then (by default) hands the
oracle's GOVERNANCE_ROLE and the timelock's own admin role to the timelock and renounces them: from
then on layouts, models, guards, publishers and the quorum change only by vote. The guardian keeps
the pause and holds the timelock's CANCELLER_ROLE, so a queued proposal can be stopped.

`submit_update` is the one transaction of an update (k publisher signatures and the proof); the
demo, the service and the tests share it, and `stored_state` reads the policy state a proof steps from.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from models.spec import LAYOUTS, LENDING, MARKETS, WAD, Layout
from oracle.chain.layouts import layout_tuple
from oracle.reports import Report, Signature, ordered
from prover.toolchain import REPO_ROOT

ZERO_ADDRESS = "0x" + "00" * 20
#: The contracts whose constructors check deployment settings (deployed first by `deploy_system`).
SETTINGS_CHECKED_BY = ("RiskOracle", "RiskVotesToken", "RiskTimelock", "RiskGovernor")
#: (minBp, maxBp, maxIncreaseBp, maxDecreaseBp), IRiskOracle.Guard
GuardTuple = tuple[int, int, int, int]


@dataclass(frozen=True)
class Timing:
    """Seconds: oldest accepted report (keepers, executed votes) and staleness of reads, both measured
    from the data's observation time. A daily update observed at 00:00 UTC lands within hours."""

    max_report_age: int = 2 * 86_400
    max_governance_report_age: int = 14 * 86_400
    staleness_period: int = 3 * 86_400

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.max_report_age, self.max_governance_report_age, self.staleness_period)


@dataclass(frozen=True)
class GovernanceConfig:
    """Governor settings in blocks (the token's clock), timelock delay in seconds.

    Defaults are production-minded for a 12-second chain (docs/contracts.md): a day's voting delay, a
    week's vote, 1% of the supply to propose, 4% quorum, a two-day timelock. Tests and the local demo
    pass `LOCAL_GOVERNANCE`. `holders` splits the supply (address → amount in base units); the rest
    stays with the deployer, who delegates to itself. A holder's tokens vote once it delegates (ERC20Votes).
    """

    voting_delay: int = 7_200
    voting_period: int = 50_400
    proposal_threshold: int = 10_000 * WAD
    quorum_percent: int = 4
    timelock_delay: int = 2 * 86_400
    token_name: str = "zkrisk Risk Votes"
    token_symbol: str = "ZKRV"
    token_supply: int = 1_000_000 * WAD
    holders: Mapping[str, int] = field(default_factory=dict)


#: Fast governance for a local chain: minutes, not days.
LOCAL_GOVERNANCE = GovernanceConfig(voting_delay=1, voting_period=20, proposal_threshold=0, timelock_delay=3_600)


@dataclass(frozen=True)
class ModelConfig:
    """What the oracle registers for one circuit.

    `vka_words` selects EZKL's reusable verifier (deployed here unless `verifier` is given); without
    words, `verifier` must be a deployed plain verifier with the key baked in.
    """

    model_id: int
    layout: Layout
    input_scale: int
    markets: tuple[int, ...]
    markets_per_proof: int = 1
    vka_words: Sequence[bytes] | None = None
    verifier: str | None = None
    label: str = ""


@dataclass
class Deployment:
    """Deployed contracts (Ape contract instances) and what the manifest records."""

    chain_id: int
    block: int
    deployer: Any
    guardian: Any
    verifier: str
    oracle: Any
    token: Any
    timelock: Any
    governor: Any
    models: list[ModelConfig]
    publishers: list[str]
    feeds: dict[tuple[int, str], Any] = field(default_factory=dict)
    handed_over: bool = False

    def vka_digest(self, model_id: int) -> str | None:
        digest = self.oracle.getModel(model_id).vkaDigest
        return None if int.from_bytes(bytes(digest), "big") == 0 else "0x" + bytes(digest).hex()

    def hand_over_to_timelock(self) -> None:
        """Give every admin role to the timelock and renounce the deployer's (irreversible)."""
        me = {"sender": self.deployer}
        governance = self.oracle.GOVERNANCE_ROLE()
        self.oracle.grantRole(governance, self.timelock.address, **me)
        self.oracle.renounceRole(governance, self.deployer.address, **me)
        self.timelock.renounceRole(self.timelock.DEFAULT_ADMIN_ROLE(), self.deployer.address, **me)
        self.handed_over = True

    def to_manifest(self) -> dict[str, Any]:
        return {
            "chain_id": self.chain_id,
            "block": self.block,
            "deployer": self.deployer.address,
            "guardian": self.guardian.address,
            "governance": self.timelock.address if self.handed_over else self.deployer.address,
            "publishers": list(self.publishers),
            "quorum": int(self.oracle.quorum()),
            "contracts": {
                "verifier": self.verifier,
                "RiskOracle": self.oracle.address,
                "RiskVotesToken": self.token.address,
                "RiskTimelock": self.timelock.address,
                "RiskGovernor": self.governor.address,
            },
            "layouts": {layout.name: layout.layout_id for layout in LAYOUTS.values()},
            "models": [{"model_id": m.model_id, "label": m.label, "layout": m.layout.name,
                        "input_scale": m.input_scale, "markets_per_proof": m.markets_per_proof,
                        "markets": list(m.markets), "verifier": self.oracle.getModel(m.model_id).verifier,
                        "vka_digest": self.vka_digest(m.model_id), "vka_words": len(m.vka_words or ())}
                       for m in self.models],
            "feeds": [{"market_id": market, "parameter": name, "address": feed.address}
                      for (market, name), feed in sorted(self.feeds.items())],
        }


@cache
def project() -> Any:
    """The zkrisk Ape project (compiled contracts), wherever the caller's working directory is."""
    from ape import Project

    from prover.toolchain import install_solc_shim

    install_solc_shim()  # ape-solidity compiles with this checkout's solc-js, never a downloaded solc
    return Project(REPO_ROOT)


def model_config_for_circuit(circuit: Any, model_id: int, markets: Sequence[int] | None = None) -> ModelConfig:
    """The ModelConfig of a built prover circuit (`prover.circuit.Circuit`) on EZKL's reusable verifier."""
    from prover.evm import vka_words

    version = circuit.version
    return ModelConfig(model_id=model_id, layout=version.layout, input_scale=circuit.input_scale,
                       markets=tuple(MARKETS.values() if markets is None else markets), markets_per_proof=circuit.k,
                       vka_words=vka_words(circuit), label=f"{version.model_id}@{version.version} K={circuit.k}")


def write_manifest(deployment: Deployment, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment.to_manifest(), indent=2) + "\n")
    return path


def contract_error(error: Any) -> tuple[str, dict[str, Any]] | None:
    """The custom error (name, inputs) of `deploy_system`'s contracts that an Ape ContractLogicError
    carries, or None. Ape decodes a revert by the reverting contract's address, which a failed
    deployment never gets, so a constructor's error arrives as raw revert data."""
    from ape import networks
    from ape.exceptions import CustomError
    from hexbytes import HexBytes

    if isinstance(error, CustomError):
        return type(error).__name__, dict(error.inputs)
    message = error.revert_message or ""
    if not message.startswith("0x"):
        return None
    data = HexBytes(message)
    for name in SETTINGS_CHECKED_BY:
        errors = getattr(project(), name).contract_type.errors
        if data[:4] in errors:
            abi = errors[data[:4]]
            return abi.name, dict(networks.ecosystem.decode_calldata(abi, data[4:]))
    return None


def sanity_guards(layout: Layout) -> list[GuardTuple]:
    """Bounds-only guards (0 to the largest value a guard can express) for every output of a layout:
    what a layout of forecasts gets, and what a deployment without a model card's steps starts from."""
    return [(0, 0xFFFF, 0xFFFF, 0xFFFF)] * len(layout.outputs)


def card_guards(card: Mapping[str, Any]) -> dict[int, list[GuardTuple]]:
    """A model card's guards per market id, in layout order (policy versions record them per market as
    `guards_bp`; a layout of forecasts gets bounds only for every market)."""
    from models.spec import layout_named

    layout = layout_named(card["layout"])
    recorded = card.get("guards_bp")
    if recorded is None:
        return {mid: sanity_guards(layout) for mid in MARKETS.values()}
    return {MARKETS[symbol]: [tuple(guards[name]) for name in layout.names]  # type: ignore[misc]
            for symbol, guards in recorded.items()}


def deploy_verifier(deployer: Any) -> str:
    """EZKL's reusable verifier from the project's solc (the bytes `zkrisk audit` recompiles)."""
    from ape.contracts import ContractContainer
    from ethpm_types import ContractType

    from prover.evm import REUSABLE_VERIFIER_NAME, REUSABLE_VERIFIER_SOL, compile_verifier

    compiled = compile_verifier(REUSABLE_VERIFIER_SOL, REUSABLE_VERIFIER_NAME)
    contract_type = ContractType.model_validate({
        "contractName": REUSABLE_VERIFIER_NAME, "abi": compiled["abi"],
        "deploymentBytecode": {"bytecode": compiled["bytecode"]},
        "runtimeBytecode": {"bytecode": "0x" + bytes(compiled["runtime"]).hex()}})
    return deployer.deploy(ContractContainer(contract_type)).address


def register_model(oracle: Any, model: ModelConfig, verifier: str, sender: Any) -> Any:
    words = [bytes(w) for w in model.vka_words or ()]
    return oracle.registerModel(model.model_id, verifier, words, model.layout.layout_id, model.input_scale,
                                model.markets_per_proof, list(model.markets), sender=sender)


def deploy_system(deployer: Any, publishers: Sequence[Any], models: Sequence[ModelConfig], *, quorum: int,
                  guardian: Any | None = None, guards: Mapping[int, Mapping[int, Sequence[GuardTuple]]] | None = None,
                  timing: Timing = Timing(), governance: GovernanceConfig = GovernanceConfig(),
                  feeds: Iterable[tuple[int, str]] = (), hand_over: bool = True) -> Deployment:
    """Deploy and wire the whole system; see the module docstring.

    `guards` maps a layout id to each market's guards for it (`card_guards`; a market or layout not
    in it gets bounds only);
    `feeds` lists (market id, output name of the lending layout) AggregatorV3 feeds to deploy.
    """
    from ape import chain

    if any(m.vka_words is None and m.verifier is None for m in models):
        raise ValueError("a model needs VKA words (reusable verifier) or a deployed plain verifier address")
    p = project()
    me = {"sender": deployer}
    guardian = guardian or deployer
    addresses = [a if isinstance(a, str) else a.address for a in publishers]
    # The constructors check the settings (quorum, timing, voting period, quorum fraction, the token
    # split): they run first, so a refused setting costs no more than these deployments.
    oracle = p.RiskOracle.deploy(deployer.address, guardian.address, addresses, quorum, timing.as_tuple(), **me)
    token = p.RiskVotesToken.deploy(governance.token_name, governance.token_symbol, deployer.address,
                                    governance.token_supply, **me)
    for holder, amount in governance.holders.items():
        token.transfer(holder, amount, **me)
    timelock = p.RiskTimelock.deploy(governance.timelock_delay, [], [], deployer.address, **me)
    governor = p.RiskGovernor.deploy(token.address, timelock.address, oracle.address, governance.voting_delay,
                                     governance.voting_period, governance.proposal_threshold,
                                     governance.quorum_percent, **me)

    for layout in LAYOUTS.values():
        oracle.registerLayout(layout.layout_id, layout_tuple(layout), **me)
    markets = sorted({m for model in models for m in model.markets})
    for layout in LAYOUTS.values():
        layout_guards = (guards or {}).get(layout.layout_id, {})
        for market in markets:
            oracle.setGuards(market, layout.layout_id, list(layout_guards.get(market, sanity_guards(layout))), **me)
    needs_reusable = any(m.vka_words is not None and m.verifier is None for m in models)
    reusable = deploy_verifier(deployer) if needs_reusable else ZERO_ADDRESS
    for model in models:
        register_model(oracle, model, model.verifier or reusable, deployer)

    # `delegate` is shadowed by an attribute of Ape's ContractInstance, hence invoke_transaction.
    token.invoke_transaction("delegate", deployer.address, **me)
    for role in (timelock.PROPOSER_ROLE(), timelock.CANCELLER_ROLE(), timelock.EXECUTOR_ROLE()):
        timelock.grantRole(role, governor.address, **me)
    timelock.grantRole(timelock.CANCELLER_ROLE(), guardian.address, **me)

    deployed_feeds = {}
    for market, name in feeds:
        output = LENDING.output(name)
        deployed_feeds[(market, name)] = p.RiskParameterFeed.deploy(
            oracle.address, market, output.parameter_id, f"market {market} {output.description}", **me)

    deployment = Deployment(chain_id=chain.chain_id, block=chain.blocks.head.number, deployer=deployer,
                            guardian=guardian, verifier=reusable, oracle=oracle, token=token, timelock=timelock,
                            governor=governor, models=list(models), publishers=addresses, feeds=deployed_feeds)
    if hand_over:
        deployment.hand_over_to_timelock()
        deployment.block = chain.blocks.head.number
    return deployment


def proved_update(model_id: int, reports: Sequence[Report], signatures: Iterable[Signature], proof: bytes,
                  instances: Sequence[int]) -> tuple:
    """`IRiskOracle.ProvedUpdate` as an ABI tuple; signatures in the signer order the oracle counts."""
    return (model_id, [r.as_tuple() for r in reports], [s.as_tuple() for s in ordered(signatures)], proof,
            list(instances))


def submit_update(oracle: Any, sender: Any, model_id: int, reports: Sequence[Report],
                  signatures: Iterable[Signature], proof: bytes, instances: Sequence[int]) -> Any:
    """The update transaction: reports, k or more publisher signatures, proof and instances."""
    return oracle.submitUpdate(proved_update(model_id, reports, signatures, proof, instances), sender=sender)


def wad_to_fixed(wad: int, scale: int) -> int:
    """The stored fixed-point integer v behind a WAD read: reads return floor(v·1e18 / 2^scale), so
    v = ceil(wad · 2^scale / 1e18) exactly (integer arithmetic; floats would lose the last bits)."""
    return (int(wad) * 2**scale + WAD - 1) // WAD


def stored_state(oracle: Any, layout: Layout, market_ids: Sequence[int]) -> np.ndarray | None:
    """Each market's stored policy state as fractions [K, S] (the layout's initial state before its
    first update): what the next proof must step from. None for a layout without state."""
    if not layout.state:
        return None
    rows = []
    for market in market_ids:
        values, observed_at, _, _ = oracle.getParameters(market, layout.layout_id)
        if int(observed_at) == 0:
            rows.append(list(layout.initial_state))
        else:
            rows.append([wad_to_fixed(values[layout.index[name]], layout.scale) / 2**layout.scale
                         for name in layout.state])
    return np.asarray(rows, dtype=np.float64)

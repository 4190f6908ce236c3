"""Deploy the zkrisk contracts and drive the two on-chain steps of an update.

`deploy_system` deploys, on the connected Ape network: the verifier (EZKL's reusable verifier unless a
deployed one is given), the DataCommitmentRegistry, the RiskOracle with one registered model, the
governance stack (ERC20Votes token, RiskTimelock, RiskGovernor) and one AggregatorV3 feed per
(market, parameter). The deployer is admin while it wires everything, then (by default) hands the
oracle's GOVERNANCE_ROLE, the registry's admin role and the timelock's own admin role to the timelock
and renounces them: from then on models, guardrails, publishers and the quorum change only by vote.
The guardian keeps the pause.

`post_commitment` and `submit_update` are the two transactions of an update (k publishers attest the
input hash, then anyone submits the proof); the demo, the service and the tests share them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Iterable, Sequence

from models.spec import META_FIELDS, OUTPUTS, WAD
from prover.toolchain import REPO_ROOT

# Parameter order of IRiskOracle.Parameter equals models/spec.py OUTPUTS (checked by a test).
PARAMETER_INDEX = {name: i for i, name in enumerate(OUTPUTS)}
FEED_LABELS = {"vol": "volatility forecast", "var99": "VaR 99%", "es99": "ES 99%",
               "lt": "liquidation threshold", "cr": "collateral ratio"}
ZERO_ADDRESS = "0x" + "00" * 20


@dataclass(frozen=True)
class Guardrail:
    """One parameter's guardrail, WAD. `max_change` is a fraction of the previous value if `relative`."""

    min: int
    max: int
    max_change: int
    relative: bool

    def as_tuple(self) -> tuple[int, int, int, bool]:
        return (self.min, self.max, self.max_change, self.relative)


#: Defaults for daily crypto parameters: wide absolute bounds (the proof is the authority for the
#: value), tight steps (a single update cannot move much; bigger moves need a vote), RiskSteward style.
DEFAULT_GUARDRAILS: dict[str, Guardrail] = {
    "vol": Guardrail(min=0, max=2 * WAD, max_change=WAD // 2, relative=True),
    "var99": Guardrail(min=0, max=WAD, max_change=WAD // 2, relative=True),
    "es99": Guardrail(min=0, max=WAD, max_change=WAD // 2, relative=True),
    "lt": Guardrail(min=WAD // 4, max=95 * WAD // 100, max_change=WAD // 10, relative=False),
    "cr": Guardrail(min=WAD, max=4 * WAD, max_change=WAD // 4, relative=False),
}


@dataclass(frozen=True)
class Timing:
    """Seconds: between two updates of a market, oldest accepted commitment, staleness of reads."""

    min_update_delay: int = 3_600
    max_commitment_age: int = 2 * 86_400
    staleness_period: int = 3 * 86_400

    def as_tuple(self) -> tuple[int, int, int]:
        return (self.min_update_delay, self.max_commitment_age, self.staleness_period)


@dataclass(frozen=True)
class GovernanceConfig:
    """Governor settings in blocks (the token's clock), timelock delay in seconds."""

    voting_delay: int = 1
    voting_period: int = 20
    proposal_threshold: int = 0
    quorum_percent: int = 4
    timelock_delay: int = 3_600
    token_name: str = "zkrisk Risk Votes"
    token_symbol: str = "ZKRV"
    token_supply: int = 1_000_000 * WAD


@dataclass(frozen=True)
class ModelConfig:
    """What the oracle registers for one circuit.

    `vka_words` selects EZKL's reusable verifier (deployed here unless `verifier` is given); without
    words, `verifier` must be a deployed plain verifier with the key baked in.
    """

    model_id: int
    output_scale: int
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
    registry: Any
    oracle: Any
    token: Any
    timelock: Any
    governor: Any
    models: list[ModelConfig]
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
        admin = self.registry.DEFAULT_ADMIN_ROLE()
        self.registry.grantRole(admin, self.timelock.address, **me)
        self.registry.renounceRole(admin, self.deployer.address, **me)
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
            "contracts": {
                "verifier": self.verifier,
                "DataCommitmentRegistry": self.registry.address,
                "RiskOracle": self.oracle.address,
                "RiskVotesToken": self.token.address,
                "RiskTimelock": self.timelock.address,
                "RiskGovernor": self.governor.address,
            },
            "models": [{"model_id": m.model_id, "label": m.label, "output_scale": m.output_scale,
                        "markets_per_proof": m.markets_per_proof, "markets": list(m.markets),
                        "verifier": self.oracle.getModel(m.model_id).verifier,
                        "vka_digest": self.vka_digest(m.model_id),
                        "vka_words": len(m.vka_words or ())} for m in self.models],
            "feeds": [{"market_id": market, "parameter": name, "address": feed.address}
                      for (market, name), feed in sorted(self.feeds.items())],
        }


@cache
def project() -> Any:
    """The zkrisk Ape project (compiled contracts), wherever the caller's working directory is."""
    from ape import Project

    return Project(REPO_ROOT)


def model_config_for_circuit(circuit: Any, model_id: int, markets: Sequence[int] | None = None) -> ModelConfig:
    """The ModelConfig of a built prover circuit (`prover.circuit.Circuit`) on EZKL's reusable verifier."""
    from models.spec import MARKETS
    from prover.evm import vka_words

    version = circuit.version
    return ModelConfig(model_id=model_id, output_scale=circuit.output_scale,
                       markets=tuple(MARKETS.values() if markets is None else markets), markets_per_proof=circuit.k,
                       vka_words=vka_words(circuit), label=f"{version.model_id}@{version.version} K={circuit.k}")


def write_manifest(deployment: Deployment, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(deployment.to_manifest(), indent=2) + "\n")
    return path


def guardrail_tuples(guardrails: dict[str, Guardrail]) -> list[tuple[int, int, int, bool]]:
    missing = set(OUTPUTS) - set(guardrails)
    if missing:
        raise ValueError(f"guardrails missing for {sorted(missing)}")
    return [guardrails[name].as_tuple() for name in OUTPUTS]


def register_model(oracle: Any, model: ModelConfig, verifier: str, sender: Any) -> Any:
    words = [bytes(w) for w in model.vka_words or ()]
    return oracle.registerModel(model.model_id, verifier, words, model.output_scale, model.markets_per_proof,
                                list(model.markets), sender=sender)


def deploy_system(deployer: Any, publishers: Sequence[Any], model: ModelConfig, *, quorum: int | None = None,
                  guardian: Any | None = None, guardrails: dict[str, Guardrail] = DEFAULT_GUARDRAILS,
                  timing: Timing = Timing(), governance: GovernanceConfig = GovernanceConfig(),
                  feed_parameters: Iterable[str] = ("lt", "cr"), hand_over: bool = True) -> Deployment:
    """Deploy and wire the whole system; see the module docstring. `quorum` defaults to all publishers."""
    from ape import chain

    p = project()
    me = {"sender": deployer}
    guardian = guardian or deployer
    if model.vka_words is None and model.verifier is None:
        raise ValueError("a model needs VKA words (reusable verifier) or a deployed plain verifier address")
    verifier = model.verifier or p.Halo2VerifierReusable.deploy(**me).address

    registry = p.DataCommitmentRegistry.deploy(deployer.address, [a.address for a in publishers],
                                               quorum or len(publishers), **me)
    oracle = p.RiskOracle.deploy(registry.address, deployer.address, guardian.address,
                                 guardrail_tuples(guardrails), timing.as_tuple(), **me)
    register_model(oracle, model, verifier, deployer)

    token = p.RiskVotesToken.deploy(governance.token_name, governance.token_symbol, deployer.address,
                                    governance.token_supply, **me)
    # `delegate` is shadowed by an attribute of Ape's ContractInstance, hence invoke_transaction.
    token.invoke_transaction("delegate", deployer.address, **me)
    timelock = p.RiskTimelock.deploy(governance.timelock_delay, [], [], deployer.address, **me)
    governor = p.RiskGovernor.deploy(token.address, timelock.address, oracle.address, governance.voting_delay,
                                     governance.voting_period, governance.proposal_threshold,
                                     governance.quorum_percent, **me)
    for role in (timelock.PROPOSER_ROLE(), timelock.CANCELLER_ROLE(), timelock.EXECUTOR_ROLE()):
        timelock.grantRole(role, governor.address, **me)

    feeds = {}
    for market in model.markets:
        for name in feed_parameters:
            feeds[(market, name)] = p.RiskParameterFeed.deploy(
                oracle.address, market, PARAMETER_INDEX[name], f"market {market} {FEED_LABELS[name]}", **me)

    deployment = Deployment(chain_id=chain.chain_id, block=chain.blocks.head.number, deployer=deployer,
                            guardian=guardian, verifier=verifier,
                            registry=registry, oracle=oracle, token=token, timelock=timelock, governor=governor,
                            models=[model], feeds=feeds)
    if hand_over:
        deployment.hand_over_to_timelock()
        deployment.block = chain.blocks.head.number
    return deployment


def post_commitment(registry: Any, publishers: Sequence[Any], market_id: int, epoch: int, input_hash: int,
                    observed_at: int | None = None) -> list[Any]:
    """Each publisher attests (market, epoch) → input hash; returns the receipts.

    `observed_at` defaults to the latest block's timestamp: replayed historical data is observed when
    it is published, and the oracle measures commitment freshness from this value.
    """
    from ape import chain

    observed = chain.blocks.head.timestamp if observed_at is None else observed_at
    digest = input_hash.to_bytes(32, "big")
    return [registry.commit(market_id, epoch, digest, observed, sender=publisher) for publisher in publishers]


def update_arguments(vectors: Sequence[Sequence[float]]) -> tuple[list[int], list[int]]:
    """(market ids, epochs) of a proof from its input vectors, whose leading fields are META_FIELDS."""
    market_at, epoch_at = META_FIELDS.index("market_id"), META_FIELDS.index("epoch")
    return [int(v[market_at]) for v in vectors], [int(v[epoch_at]) for v in vectors]


def submit_update(oracle: Any, sender: Any, model_id: int, proof: bytes, instances: Sequence[int],
                  vectors: Sequence[Sequence[float]]) -> Any:
    """Submit a proved update; market ids and epochs come from the proved input vectors."""
    market_ids, epochs = update_arguments(vectors)
    return oracle.submitUpdate(model_id, market_ids, epochs, proof, list(instances), sender=sender)


def publish_proved_update(deployment: Deployment, publishers: Sequence[Any], sender: Any, model_id: int,
                          proof: bytes, instances: Sequence[int], vectors: Sequence[Sequence[float]],
                          observed_at: int | None = None) -> Any:
    """Both steps for every market of one proof: commitments by `publishers`, then the submission."""
    market_ids, epochs = update_arguments(vectors)
    for i, (market, epoch) in enumerate(zip(market_ids, epochs)):
        post_commitment(deployment.registry, publishers, market, epoch, instances[i], observed_at)
    return submit_update(deployment.oracle, sender, model_id, proof, instances, vectors)

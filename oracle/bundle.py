"""Proof bundles: one self-contained JSON file per published update or governance proposal.

A bundle holds everything an auditor needs to re-derive a published update without trusting the
operator: the raw market data window and where it came from, the proved input vector, its Poseidon
commitment, the proof and its public instances, the decoded outputs, the circuit (settings, vk, VKA,
manifest, SRS), the model card, the explanation, and where it landed on chain (chain id, contract
addresses, transaction). `zkrisk audit` re-checks every one of those claims; docs/bundle.md
describes the format field by field.

Format `zkrisk-bundle/1` (JSON, UTF-8; keys sorted when written):

    format          "zkrisk-bundle/1"
    kind            "update" | "proposal"
    created_at      ISO-8601 UTC
    model           {model_id, version, card, card_sha256}
    circuit         {k, input_scale, output_scale, settings (the file's exact text), settings_sha256, manifest,
                     vk (base64), vk_sha256, vka (0x words), vka_digest (keccak256 of the words),
                     srs {provenance, sha256, logrows, data (base64, only for a development SRS)}}
    proof           {hex (0x…), instances (0x felts, big-endian), stated_error_bps}
    markets[]       {symbol, market_id, epoch,
                     raw {source, columns, index (ISO times), rows},   the data the features read
                     vector, commitment (0x felt), outputs {values, wad (decimal strings), float_model},
                     explanation (object or null)}
    chain           null, or {chain_id, contracts {name: address}, model_id (on-chain uint32),
                     tx_hash, block_number, gas_used}
    proposal        null, or {governor, proposal_id, description, backtest}

Field elements and WAD values are strings (0x-hex and decimal): they exceed JavaScript's and JSON
parsers' safe integers. A development SRS is random per machine, so nobody else could verify the
proof without it: it is embedded. A ceremony SRS is referred to by its hash only.

`Bundle.load` validates structure and internal consistency (instance count, hashes of embedded
files) and raises `BundleFormatError` naming the field. It
does not decide whether the claims are true (that the proof verifies, that the outputs are the
decoded instances, that the commitment matches the data): that is the audit's job, check by check.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np
import pandas as pd
from eth_utils import keccak

from models.errors import ModelError, ModelVersionError
from models.explain import explain
from models.spec import MARKETS, OUTPUTS, felt_to_wad, instance_count, split_instances
from models.versions import ModelVersion
from oracle.errors import OracleError
from prover.circuit import Circuit
from prover.errors import MissingArtifactError
from prover.evm import vka_words
from prover.proving import ProofResult

FORMAT = "zkrisk-bundle/1"
KINDS = ("update", "proposal")
#: Source record of data replayed from the repository's bundled history (provenance in each SOURCE.md).
BUNDLED_SOURCE = {"kind": "bundled-replay", "dataset": "models/data"}


class BundleFormatError(OracleError):
    """A bundle file is not a valid `zkrisk-bundle/1` document; the message names the field."""

    kind = "bundle-format"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as error:
        raise BundleFormatError(f"{where}: not valid base64 ({error})") from None


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def felt_hex(value: int) -> str:
    return f"0x{value:064x}"


def vka_digest(words: Sequence[bytes]) -> str:
    """keccak256 of the concatenated VKA words, the digest RiskOracle stores for a reusable verifier."""
    return "0x" + keccak(b"".join(words)).hex()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


@dataclass(frozen=True)
class RawWindow:
    """The market data rows the features were computed from, and where they came from."""

    source: dict[str, Any]
    frame: pd.DataFrame

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "columns": list(self.frame.columns),
                "index": [t.isoformat() for t in self.frame.index],
                "rows": self.frame.to_numpy(dtype=np.float64).tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> "RawWindow":
        try:
            index = pd.DatetimeIndex([pd.Timestamp(t) for t in data["index"]], name="timestamp")
            frame = pd.DataFrame(np.asarray(data["rows"], dtype=np.float64).reshape(len(index), -1),
                                 index=index, columns=list(data["columns"]))
        except (KeyError, TypeError, ValueError) as error:
            raise BundleFormatError(f"{where}: unreadable raw window ({error})") from None
        if not isinstance(data.get("source"), dict) or "kind" not in data["source"]:
            raise BundleFormatError(f"{where}.source: an object with at least a 'kind' is required")
        return cls(dict(data["source"]), frame)


def minimal_window(version: ModelVersion, symbol: str, frame: pd.DataFrame, vector: np.ndarray) -> pd.DataFrame:
    """The shortest tail of `frame` from which the model version's features reproduce `vector`.

    Feature look-back differs between model versions (daily closes, hourly bars), so the tail is
    found by bisection over what the version itself computes rather than assumed.
    """
    def reproduces(n: int) -> bool:
        try:
            return np.array_equal(version.input_vector(symbol, frame=frame.iloc[-n:]), vector)
        except ModelError:  # too short for the features' look-back
            return False

    if not reproduces(len(frame)):
        raise BundleFormatError(f"{symbol}: the features of {version.model_id}@{version.version} on the given "
                                "frame do not reproduce the proved input vector (wrong frame or end?)")
    low, high = 1, len(frame)
    while low < high:
        middle = (low + high) // 2
        low, high = (low, middle) if reproduces(middle) else (middle + 1, high)
    return frame.iloc[-low:]


@dataclass(frozen=True)
class MarketRecord:
    symbol: str
    market_id: int
    epoch: int
    raw: RawWindow
    vector: list[float]
    commitment: int
    values: dict[str, float]
    wad: dict[str, int]
    float_model: dict[str, float]
    explanation: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "market_id": self.market_id, "epoch": self.epoch,
                "raw": self.raw.to_dict(), "vector": self.vector, "commitment": felt_hex(self.commitment),
                "outputs": {"values": self.values, "wad": {k: str(v) for k, v in self.wad.items()},
                            "float_model": self.float_model},
                "explanation": self.explanation}


@dataclass(frozen=True)
class SrsRecord:
    provenance: str
    sha256: str
    logrows: int
    data: bytes | None

    def to_dict(self) -> dict[str, Any]:
        return {"provenance": self.provenance, "sha256": self.sha256, "logrows": self.logrows,
                "data": None if self.data is None else _b64(self.data)}


@dataclass(frozen=True)
class CircuitRecord:
    k: int
    input_scale: int
    output_scale: int
    settings: str
    manifest: dict[str, Any]
    vk: bytes
    vka: list[bytes]
    srs: SrsRecord

    def to_dict(self) -> dict[str, Any]:
        return {"k": self.k, "input_scale": self.input_scale, "output_scale": self.output_scale,
                "settings": self.settings, "settings_sha256": sha256_hex(self.settings.encode()),
                "manifest": self.manifest, "vk": _b64(self.vk), "vk_sha256": sha256_hex(self.vk),
                "vka": ["0x" + w.hex() for w in self.vka], "vka_digest": vka_digest(self.vka) if self.vka else None,
                "srs": self.srs.to_dict()}


@dataclass(frozen=True)
class ChainRecord:
    chain_id: int
    contracts: dict[str, str]
    model_id: int
    tx_hash: str | None = None
    block_number: int | None = None
    gas_used: int | None = None

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], model_id: int, tx_hash: str | None = None,
                      block_number: int | None = None, gas_used: int | None = None) -> "ChainRecord":
        """From a deployment manifest (`Deployment.to_manifest()`) and the publishing transaction."""
        return cls(chain_id=int(manifest["chain_id"]), contracts=dict(manifest["contracts"]), model_id=model_id,
                   tx_hash=tx_hash, block_number=block_number, gas_used=gas_used)


@dataclass(frozen=True)
class ProposalRecord:
    governor: str
    proposal_id: int | None
    description: str
    backtest: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"governor": self.governor,
                "proposal_id": None if self.proposal_id is None else str(self.proposal_id),
                "description": self.description, "backtest": self.backtest}


@dataclass(frozen=True)
class Bundle:
    kind: str
    created_at: str
    model_id: str
    model_version: str
    card: dict[str, Any]
    circuit: CircuitRecord
    proof: bytes
    instances: list[int]
    stated_error_bps: float
    markets: list[MarketRecord]
    chain: ChainRecord | None = None
    proposal: ProposalRecord | None = None

    # --- writing

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "kind": self.kind, "created_at": self.created_at,
            "model": {"model_id": self.model_id, "version": self.model_version, "card": self.card,
                      "card_sha256": sha256_hex(canonical_json(self.card))},
            "circuit": self.circuit.to_dict(),
            "proof": {"hex": "0x" + self.proof.hex(), "instances": [felt_hex(i) for i in self.instances],
                      "stated_error_bps": self.stated_error_bps},
            "markets": [m.to_dict() for m in self.markets],
            "chain": None if self.chain is None else asdict(self.chain),
            "proposal": None if self.proposal is None else self.proposal.to_dict(),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1).encode() + b"\n"

    @property
    def sha256(self) -> str:
        """Hash of the file as written; proposal descriptions link bundles by it."""
        return sha256_hex(self.to_bytes())

    @property
    def content_sha256(self) -> str:
        """Hash of what was proved, leaving out when and where it was published.

        A proposal's description links this hash: the proposal record and the chain record are only
        known after the description is written, so they cannot be part of what it links.
        """
        content = {k: v for k, v in self.to_dict().items() if k not in ("created_at", "kind", "chain", "proposal")}
        return sha256_hex(canonical_json(content))

    def save(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(self.to_bytes())
        return path

    def with_chain(self, chain: ChainRecord) -> "Bundle":
        return replace(self, chain=chain)

    def with_proposal(self, proposal: ProposalRecord) -> "Bundle":
        return replace(self, kind="proposal", proposal=proposal)

    # --- reading

    @classmethod
    def load(cls, path: Path) -> "Bundle":
        path = Path(path)
        try:
            data = json.loads(path.read_bytes())
        except FileNotFoundError:
            raise BundleFormatError(f"no bundle at {path}") from None
        except (UnicodeDecodeError, json.JSONDecodeError) as error:
            raise BundleFormatError(f"{path} is not JSON: {error}") from None
        return cls.from_dict(data)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "Bundle":
        if not isinstance(data, Mapping):
            raise BundleFormatError("a bundle is a JSON object")
        if data.get("format") != FORMAT:
            raise BundleFormatError(f"format: expected {FORMAT!r}, got {data.get('format')!r}")
        if data.get("kind") not in KINDS:
            raise BundleFormatError(f"kind: expected one of {KINDS}, got {data.get('kind')!r}")
        try:
            bundle = cls._parse(data)
        except KeyError as error:
            raise BundleFormatError(f"missing field {error}") from None
        except (TypeError, ValueError) as error:
            raise BundleFormatError(f"malformed field: {error}") from None
        bundle._validate(data)
        return bundle

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> "Bundle":
        c, p, model = data["circuit"], data["proof"], data["model"]
        srs = c["srs"]
        circuit = CircuitRecord(
            k=int(c["k"]), input_scale=int(c["input_scale"]), output_scale=int(c["output_scale"]),
            settings=str(c["settings"]), manifest=dict(c["manifest"]), vk=_unb64(c["vk"], "circuit.vk"),
            vka=[bytes.fromhex(w.removeprefix("0x")) for w in c["vka"]],
            srs=SrsRecord(str(srs["provenance"]), str(srs["sha256"]), int(srs["logrows"]),
                          None if srs["data"] is None else _unb64(srs["data"], "circuit.srs.data")))
        markets = [MarketRecord(
            symbol=str(m["symbol"]), market_id=int(m["market_id"]), epoch=int(m["epoch"]),
            raw=RawWindow.from_dict(m["raw"], f"markets[{i}].raw"), vector=[float(x) for x in m["vector"]],
            commitment=int(m["commitment"], 16),
            values={n: float(m["outputs"]["values"][n]) for n in OUTPUTS},
            wad={n: int(m["outputs"]["wad"][n]) for n in OUTPUTS},
            float_model={n: float(m["outputs"]["float_model"][n]) for n in OUTPUTS},
            explanation=m.get("explanation")) for i, m in enumerate(data["markets"])]
        chain = data.get("chain")
        proposal = data.get("proposal")
        return cls(
            kind=data["kind"], created_at=str(data["created_at"]), model_id=str(model["model_id"]),
            model_version=str(model["version"]), card=dict(model["card"]), circuit=circuit,
            proof=bytes.fromhex(str(p["hex"]).removeprefix("0x")), instances=[int(x, 16) for x in p["instances"]],
            stated_error_bps=float(p["stated_error_bps"]), markets=markets,
            chain=None if chain is None else ChainRecord(
                chain_id=int(chain["chain_id"]), contracts=dict(chain["contracts"]), model_id=int(chain["model_id"]),
                tx_hash=chain.get("tx_hash"), block_number=chain.get("block_number"),
                gas_used=chain.get("gas_used")),
            proposal=None if proposal is None else ProposalRecord(
                governor=str(proposal["governor"]),
                proposal_id=None if proposal["proposal_id"] is None else int(proposal["proposal_id"]),
                description=str(proposal["description"]), backtest=proposal.get("backtest")))

    def _validate(self, data: Mapping[str, Any]) -> None:
        """Internal consistency only: the file says the same thing everywhere it says it twice."""
        c = data["circuit"]
        for name, expected, actual in (
                ("circuit.vk_sha256", c["vk_sha256"], sha256_hex(self.circuit.vk)),
                ("circuit.settings_sha256", c["settings_sha256"], sha256_hex(self.circuit.settings.encode())),
                ("model.card_sha256", data["model"]["card_sha256"], sha256_hex(canonical_json(self.card)))):
            if expected != actual:
                raise BundleFormatError(f"{name} is {expected}, the embedded content hashes to {actual}")
        if self.circuit.vka and c["vka_digest"] != vka_digest(self.circuit.vka):
            raise BundleFormatError(f"circuit.vka_digest is {c['vka_digest']}, the words hash to "
                                    f"{vka_digest(self.circuit.vka)}")
        if self.circuit.srs.data is not None and sha256_hex(self.circuit.srs.data) != self.circuit.srs.sha256:
            raise BundleFormatError("circuit.srs.data does not hash to circuit.srs.sha256")
        if len(self.markets) != self.circuit.k:
            raise BundleFormatError(f"markets: the circuit proves {self.circuit.k} markets, the bundle lists "
                                    f"{len(self.markets)}")
        if len(self.instances) != instance_count(self.circuit.k):
            raise BundleFormatError(f"proof.instances: {len(self.instances)} values, a K={self.circuit.k} proof "
                                    f"has {instance_count(self.circuit.k)}")
        if self.kind == "proposal" and self.proposal is None:
            raise BundleFormatError("proposal: a proposal bundle needs its proposal record")

    # --- derived views used by the audit and the dashboard

    def decoded_outputs(self) -> list[dict[str, int]]:
        """Per market, the outputs decoded from the instances to WAD (what the contracts store)."""
        _, outputs = split_instances(self.instances, self.circuit.k)
        return [{n: felt_to_wad(f, self.circuit.output_scale) for n, f in zip(OUTPUTS, felts)} for felts in outputs]

    def instance_hashes(self) -> list[int]:
        return split_instances(self.instances, self.circuit.k)[0]

    def ezkl_proof_document(self) -> dict[str, Any]:
        """The proof file `ezkl.verify` reads, rebuilt from the bundle's proof bytes and instances."""
        # EZKL serialises field elements as little-endian hex without prefix.
        return {"instances": [[i.to_bytes(32, "little").hex() for i in self.instances]], "proof": list(self.proof)}


def explanation_of(version: ModelVersion, vector: np.ndarray) -> dict[str, Any] | None:
    """The risk-contribution breakdown of one update, when the model version publishes one."""
    try:
        return explain(version, vector).to_dict()
    except ModelVersionError:  # versions without an explanation baseline in their card
        return None


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def build_bundle(circuit: Circuit, result: ProofResult, frames: Mapping[str, pd.DataFrame],
                 sources: Mapping[str, dict[str, Any]],
                 explanations: Mapping[str, dict[str, Any]] | None = None,
                 chain: ChainRecord | None = None, kind: str = "update",
                 proposal: ProposalRecord | None = None) -> Bundle:
    """Assemble the bundle of one proof.

    `frames[symbol]` is the market data the input vector was computed from, ending at the window's
    last bar (longer history is trimmed to what the features read); `sources[symbol]` describes where
    it came from (at least `kind`, e.g. {"kind": "bundled-replay", "dataset": "binance_spot_daily"}).
    Explanations not given are computed with `models.explain` where the model version supports it.
    """
    version = circuit.version
    by_id = {market_id: symbol for symbol, market_id in MARKETS.items()}
    if not circuit.paths.vk.exists():
        raise MissingArtifactError(f"verification key missing: {circuit.paths.vk}")
    srs_data = circuit.srs.path.read_bytes() if circuit.srs.provenance.startswith("local-dev") else None
    markets = []
    for i, output in enumerate(result.markets):
        vector = result.vectors[i]
        symbol = by_id[int(vector[0])]
        if symbol not in frames or symbol not in sources:
            raise BundleFormatError(f"no raw frame or source given for {symbol}")
        raw = minimal_window(version, symbol, frames[symbol], vector)
        markets.append(MarketRecord(
            symbol=symbol, market_id=int(vector[0]), epoch=int(vector[1]), raw=RawWindow(dict(sources[symbol]), raw),
            vector=[float(x) for x in vector], commitment=result.input_hashes[i], values=dict(output.values),
            wad=dict(output.wad), float_model=dict(output.float_model),
            explanation=(explanations or {}).get(symbol) or explanation_of(version, vector)))
    record = CircuitRecord(k=circuit.k, input_scale=circuit.input_scale, output_scale=circuit.output_scale,
                           settings=circuit.paths.settings.read_text(), manifest=circuit.manifest,
                           vk=circuit.paths.vk.read_bytes(), vka=vka_words(circuit), srs=SrsRecord(circuit.srs.provenance, circuit.srs.sha256, circuit.srs.logrows,
                                                  srs_data))
    return Bundle(kind=kind, created_at=_utc_now(), model_id=version.model_id, model_version=version.version,
                  card=version.card, circuit=record, proof=result.proof, instances=list(result.instances),
                  stated_error_bps=float(result.max_abs_error_bps), markets=markets, chain=chain, proposal=proposal)

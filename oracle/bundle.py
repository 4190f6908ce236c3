"""Proof bundles: one self-contained JSON file per published update or governance proposal.

A bundle holds everything an auditor needs to re-derive a published update without trusting the
operator: the model's declared output layout, the raw bars each market's features were computed from,
the proved input vector with its Poseidon hash and the keccak data hash the publishers signed, the
policy state the proof stepped from, the proof and its public instances, the outputs decoded with the
layout, the signed report batch, the circuit (settings, vk, VKA, manifest, SRS), the model card, the
explanation, and where it landed on chain. `zkrisk audit` re-checks every claim against the repository
and the chain; docs/bundle.md describes the format field by field.

Format `zkrisk-bundle/2` (JSON, UTF-8; keys sorted when written):

    format          "zkrisk-bundle/2"
    kind            "update" | "proposal"
    created_at      ISO-8601 UTC
    model           {model_id, version, card, card_sha256,
                     layout {layout_id, name, scale, outputs [{name, parameter_id, unit, kind, guard}],
                             state [names], initial_state [fractions]}}
    circuit         {k, input_scale, output_scale, settings (the file's exact text), settings_sha256, manifest,
                     vk (base64), vk_sha256, vka (0x words), vka_digest (keccak256 of the words),
                     srs {provenance, sha256, logrows, data (base64, only for a development SRS)}}
    proof           {hex (0x…), instances (0x felts, big-endian), error_bps {output: |circuit − float| in bp}}
    markets[]       {symbol, market_id, epoch,
                     raw {source, hourly {columns, index (ISO times), rows}, dvol (same, or null)},
                     vector, input_hash (0x felt), data_hash (0x keccak),
                     outputs {name: {felt (0x), value, wad (decimal string), float_model}},
                     state_before {name: fraction} | null, state_after {name: fraction} | null,
                     explanation (object or null)}
    reports         {domain {chain_id, oracle}, reports [{market_id, epoch, input_hash, data_hash, observed_at}],
                     signatures [{signer, r, vs}]}
    chain           null, or {chain_id, contracts {name: address}, model_id (on-chain uint32),
                     tx_hash, block_number, status (receipt status, 1 = success), gas_used}
    proposal        null, or {governor, proposal_id, description, backtest}

Field elements and WAD values are strings (0x-hex and decimal): they exceed JavaScript's and JSON
parsers' safe integers. Raw values are JSON numbers written as Python's shortest round-trip repr, so
`oracle.reports.data_hash` over the parsed bars gives the hash the publishers signed. Input hashes are
Poseidon over the vector rounded to float32 first, then to the circuit's input scale
(`prover.proving.input_commitment`): EZKL reads inputs as float32, and float64 straight to a felt
lands on the neighbouring element for values near a rounding boundary.

A development SRS is random per machine, so nobody else could verify the proof without it: it is
embedded. A ceremony SRS is referred to by its hash only.

`Bundle.for_update` / `Bundle.for_proposal` build a bundle from what the prover and the publishers
produced and refuse inconsistent parts (`BundleError`). `Bundle.load` validates structure and internal
consistency (instance count, hashes of embedded files, reports against markets) and raises
`BundleFormatError` naming the field. Neither decides whether the claims are true (the proof
verifies, the signers were publishers, the chain stored these values): that is the audit's job.
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
from models.spec import MARKETS, GuardClass, Kind, Layout, Output, felt_to_wad, signed_felt
from models.versions import MarketData, ModelVersion
from oracle.errors import OracleError
from oracle.feed import BUNDLED_SOURCE
from oracle.reports import Domain, Report, Signature, data_hash
from prover.circuit import Circuit
from prover.errors import MissingArtifactError
from prover.evm import vka_words
from prover.proving import ProofResult

FORMAT = "zkrisk-bundle/2"
KINDS = ("update", "proposal")
#: How far features recomputed from the same bars may differ (relative, absolute): the log goes through
#: the C library's scalar `log` (models.features.deterministic_log), within 1 ulp across libraries; the
#: input scale (2^-13) is nine orders of magnitude coarser. The hash is the exact check.
FEATURE_RTOL, FEATURE_ATOL = 1e-9, 1e-12


class BundleFormatError(OracleError):
    """A bundle file is not a valid `zkrisk-bundle/2` document; the message names the field."""

    kind = "bundle-format"


class BundleError(OracleError):
    """The parts given to build a bundle do not belong together; the message says which."""

    kind = "bundle"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, where: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (ValueError, TypeError) as error:
        raise BundleFormatError(f"{where}: not valid base64 ({error})") from None


def _hex_bytes(text: str) -> bytes:
    return bytes.fromhex(str(text).removeprefix("0x"))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def felt_hex(value: int) -> str:
    return f"0x{value:064x}"


def vka_digest(words: Sequence[bytes]) -> str:
    """keccak256 of the concatenated VKA words, the digest RiskOracle stores for a reusable verifier."""
    return "0x" + keccak(b"".join(words)).hex()


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":")).encode()


def vectors_agree(recomputed: np.ndarray, proved: np.ndarray) -> bool:
    """Features recomputed from the raw bars are the proved vector: meta fields exactly, features
    within FEATURE_RTOL/FEATURE_ATOL (never exact float equality: see the constants)."""
    recomputed, proved = np.asarray(recomputed, dtype=np.float64), np.asarray(proved, dtype=np.float64)
    return recomputed.shape == proved.shape and np.array_equal(recomputed[:2], proved[:2]) \
        and bool(np.allclose(recomputed, proved, rtol=FEATURE_RTOL, atol=FEATURE_ATOL))


# --- layouts and raw data as JSON


def layout_to_dict(layout: Layout) -> dict[str, Any]:
    return {"layout_id": layout.layout_id, "name": layout.name, "scale": layout.scale,
            "outputs": [{"name": o.name, "parameter_id": o.parameter_id, "unit": o.unit, "kind": o.kind.value,
                         "guard": o.guard.value, "description": o.description} for o in layout.outputs],
            "state": list(layout.state), "initial_state": list(layout.initial_state)}


def layout_from_dict(data: Mapping[str, Any]) -> Layout:
    return Layout(layout_id=int(data["layout_id"]), name=str(data["name"]), scale=int(data["scale"]),
                  outputs=tuple(Output(str(o["name"]), int(o["parameter_id"]), str(o["unit"]), Kind(o["kind"]),
                                       GuardClass(o["guard"]), str(o.get("description", "")))
                                for o in data["outputs"]),
                  state=tuple(str(s) for s in data["state"]),
                  initial_state=tuple(float(v) for v in data["initial_state"]))


def frame_to_dict(frame: pd.DataFrame) -> dict[str, Any]:
    return {"columns": list(frame.columns), "index": [t.isoformat() for t in frame.index],
            "rows": frame.to_numpy(dtype=np.float64).tolist()}


def frame_from_dict(data: Mapping[str, Any]) -> pd.DataFrame:
    index = pd.DatetimeIndex([pd.Timestamp(t) for t in data["index"]], name="timestamp")
    if index.tz is None:
        raise ValueError("bar times need a UTC offset")
    return pd.DataFrame(np.asarray(data["rows"], dtype=np.float64).reshape(len(index), -1),
                        index=index.tz_convert("UTC"), columns=list(data["columns"]))


@dataclass(frozen=True)
class RawData:
    """The raw bars of one market's update (exactly what its features read and its publishers hashed),
    and where they came from (at least `kind`, e.g. {"kind": "bundled-replay", "dataset": ...})."""

    source: dict[str, Any]
    data: MarketData

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "hourly": frame_to_dict(self.data.hourly),
                "dvol": None if self.data.dvol is None else frame_to_dict(self.data.dvol)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str) -> "RawData":
        try:
            market = MarketData(frame_from_dict(data["hourly"]),
                                None if data.get("dvol") is None else frame_from_dict(data["dvol"]))
        except (KeyError, TypeError, ValueError) as error:
            raise BundleFormatError(f"{where}: unreadable raw bars ({error})") from None
        if not isinstance(data.get("source"), dict) or "kind" not in data["source"]:
            raise BundleFormatError(f"{where}.source: an object with at least a 'kind' is required")
        return cls(dict(data["source"]), market)


# --- records


@dataclass(frozen=True)
class OutputRecord:
    felt: int
    value: float
    wad: int
    float_model: float

    def to_dict(self) -> dict[str, Any]:
        return {"felt": felt_hex(self.felt), "value": self.value, "wad": str(self.wad), "float_model": self.float_model}


@dataclass(frozen=True)
class MarketRecord:
    symbol: str
    market_id: int
    epoch: int
    raw: RawData
    vector: list[float]
    input_hash: int
    data_hash: bytes
    outputs: dict[str, OutputRecord]
    state_before: dict[str, float] | None
    explanation: dict[str, Any] | None = None

    @property
    def wad(self) -> dict[str, int]:
        return {name: o.wad for name, o in self.outputs.items()}

    def state_after(self, layout: Layout) -> dict[str, float] | None:
        """The policy state the next update steps from: this update's values of the state outputs."""
        return None if not layout.state else {name: self.outputs[name].value for name in layout.state}

    def to_dict(self, layout: Layout) -> dict[str, Any]:
        return {"symbol": self.symbol, "market_id": self.market_id, "epoch": self.epoch, "raw": self.raw.to_dict(),
                "vector": self.vector, "input_hash": felt_hex(self.input_hash),
                "data_hash": "0x" + self.data_hash.hex(),
                "outputs": {name: o.to_dict() for name, o in self.outputs.items()},
                "state_before": self.state_before, "state_after": self.state_after(layout),
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

    @classmethod
    def of(cls, circuit: Circuit) -> "CircuitRecord":
        if not circuit.paths.vk.exists():
            raise MissingArtifactError(f"verification key missing: {circuit.paths.vk}")
        srs_data = circuit.srs.path.read_bytes() if circuit.srs.provenance.startswith("local-dev") else None
        return cls(k=circuit.k, input_scale=circuit.input_scale, output_scale=circuit.output_scale,
                   settings=circuit.paths.settings.read_text(), manifest=circuit.manifest,
                   vk=circuit.paths.vk.read_bytes(), vka=vka_words(circuit),
                   srs=SrsRecord(circuit.srs.provenance, circuit.srs.sha256, circuit.srs.logrows, srs_data))


@dataclass(frozen=True)
class ReportBatch:
    """The signed batch of an update: the markets' reports in proof order and the publishers' signatures
    of its EIP-712 digest for `domain` (oracle.reports)."""

    domain: Domain
    reports: list[Report]
    signatures: list[Signature]

    def to_dict(self) -> dict[str, Any]:
        return {"domain": {"chain_id": self.domain.chain_id, "oracle": self.domain.oracle},
                "reports": [r.to_dict() for r in self.reports], "signatures": [s.to_dict() for s in self.signatures]}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ReportBatch":
        domain = data["domain"]
        return cls(Domain(int(domain["chain_id"]), str(domain["oracle"])),
                   [Report.from_dict(r) for r in data["reports"]], [Signature.from_dict(s) for s in data["signatures"]])


@dataclass(frozen=True)
class ChainRecord:
    chain_id: int
    contracts: dict[str, str]
    model_id: int
    tx_hash: str | None = None
    block_number: int | None = None
    status: int | None = None
    gas_used: int | None = None

    @classmethod
    def from_manifest(cls, manifest: Mapping[str, Any], model_id: int, tx_hash: str | None = None,
                      block_number: int | None = None, status: int | None = None,
                      gas_used: int | None = None) -> "ChainRecord":
        """From a deployment manifest (`Deployment.to_manifest()`) and the publishing transaction's receipt."""
        return cls(chain_id=int(manifest["chain_id"]), contracts=dict(manifest["contracts"]), model_id=model_id,
                   tx_hash=tx_hash, block_number=block_number, status=status, gas_used=gas_used)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "ChainRecord":
        def optional_int(key: str) -> int | None:
            return None if data.get(key) is None else int(data[key])

        return cls(chain_id=int(data["chain_id"]), contracts=dict(data["contracts"]), model_id=int(data["model_id"]),
                   tx_hash=data.get("tx_hash"), block_number=optional_int("block_number"),
                   status=optional_int("status"), gas_used=optional_int("gas_used"))


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


def explanation_of(version: ModelVersion, vector: np.ndarray, state: np.ndarray | None) -> dict[str, Any] | None:
    """The risk-contribution breakdown of one update, when the model version publishes one."""
    try:
        return explain(version, vector, state).to_dict()
    except ModelVersionError:  # versions without an explanation baseline in their card
        return None


def _utc_now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


@dataclass(frozen=True)
class Bundle:
    kind: str
    created_at: str
    model_id: str
    model_version: str
    card: dict[str, Any]
    layout: Layout
    circuit: CircuitRecord
    proof: bytes
    instances: list[int]
    error_bps: dict[str, float]
    markets: list[MarketRecord]
    batch: ReportBatch
    chain: ChainRecord | None = None
    proposal: ProposalRecord | None = None

    # --- building

    @classmethod
    def for_update(cls, circuit: Circuit, proof: ProofResult, raw: Sequence[RawData], batch: ReportBatch,
                   chain: ChainRecord | None = None,
                   explanations: Sequence[dict[str, Any] | None] | None = None) -> "Bundle":
        """The bundle of one proved update: the circuit and its proof (`prover.proving.prove`, whose
        `state` is the policy state it stepped from), per market in proof order the raw bars its vector
        was computed from, and the signed report batch. Pure: reads the circuit's files, touches no
        database or chain. Explanations not given are computed (`models.explain`) where the version
        publishes them. Raises BundleError when the parts do not belong together."""
        version = circuit.version
        layout = version.layout
        if len(raw) != circuit.k or len(batch.reports) != circuit.k or len(proof.markets) != circuit.k:
            raise BundleError(f"a K={circuit.k} proof needs {circuit.k} raw data sets and reports; got "
                              f"{len(raw)} and {len(batch.reports)} for {len(proof.markets)} proved markets")
        by_id = {mid: symbol for symbol, mid in MARKETS.items()}
        markets = []
        for i, (output, data, report) in enumerate(zip(proof.markets, raw, batch.reports)):
            vector = np.asarray(proof.vectors[i], dtype=np.float64)
            market, epoch = int(vector[0]), int(vector[1])
            symbol = by_id.get(market)
            if symbol is None:
                raise BundleError(f"market {i}: market id {market} is not in models/spec.py MARKETS")
            try:
                recomputed = version.input_vector(symbol, data=data.data)
            except ModelError as error:
                raise BundleError(f"{symbol}: the raw bars do not give an input vector: {error}") from error
            if not vectors_agree(recomputed, vector):
                raise BundleError(f"{symbol}: the features of {version.model_id}@{version.version} on the given bars "
                                  "do not reproduce the proved input vector (wrong window?)")
            hashed = data_hash(data.data)
            if (report.market_id, report.epoch) != (market, epoch):
                raise BundleError(f"report {i} is for market {report.market_id} epoch {report.epoch}, the proof's "
                                  f"market {i} is {market} epoch {epoch}")
            if int.from_bytes(report.input_hash, "big") != proof.input_hashes[i]:
                raise BundleError(f"{symbol}: the report's input hash is not the proof's")
            if report.data_hash != hashed:
                raise BundleError(f"{symbol}: the report's data hash 0x{report.data_hash.hex()} is not the hash of "
                                  f"the given bars 0x{hashed.hex()}")
            state = None if proof.state is None else np.asarray(proof.state[i], dtype=np.float64)
            outputs = {name: OutputRecord(output.fixed[name], output.values[name], output.wad[name],
                                          output.float_model[name]) for name in layout.names}
            explanation = explanations[i] if explanations is not None else explanation_of(version, vector, state)
            markets.append(MarketRecord(
                symbol=symbol, market_id=market, epoch=epoch, raw=data, vector=[float(x) for x in vector],
                input_hash=proof.input_hashes[i], data_hash=hashed, outputs=outputs,
                state_before=None if state is None else {n: float(v) for n, v in zip(layout.state, state)},
                explanation=explanation))
        return cls(kind="update", created_at=_utc_now(), model_id=version.model_id, model_version=version.version,
                   card=version.card, layout=layout, circuit=CircuitRecord.of(circuit), proof=proof.proof,
                   instances=list(proof.instances), error_bps=dict(proof.error_bps_by_output), markets=markets,
                   batch=batch, chain=chain)

    @classmethod
    def for_proposal(cls, circuit: Circuit, proof: ProofResult, raw: Sequence[RawData], batch: ReportBatch,
                     proposal: ProposalRecord, chain: ChainRecord | None = None,
                     explanations: Sequence[dict[str, Any] | None] | None = None) -> "Bundle":
        """The bundle of a governance proposal carrying a proof (see `for_update`)."""
        return cls.for_update(circuit, proof, raw, batch, chain, explanations).with_proposal(proposal)

    # --- writing

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT, "kind": self.kind, "created_at": self.created_at,
            "model": {"model_id": self.model_id, "version": self.model_version, "card": self.card,
                      "card_sha256": sha256_hex(canonical_json(self.card)), "layout": layout_to_dict(self.layout)},
            "circuit": self.circuit.to_dict(),
            "proof": {"hex": "0x" + self.proof.hex(), "instances": [felt_hex(i) for i in self.instances],
                      "error_bps": self.error_bps},
            "markets": [m.to_dict(self.layout) for m in self.markets],
            "reports": self.batch.to_dict(),
            "chain": None if self.chain is None else asdict(self.chain),
            "proposal": None if self.proposal is None else self.proposal.to_dict(),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_dict(), sort_keys=True, indent=1).encode() + b"\n"

    @property
    def sha256(self) -> str:
        """Hash of the file as written."""
        return sha256_hex(self.to_bytes())

    @property
    def content_sha256(self) -> str:
        """Hash of what was proved and signed, leaving out when and where it was published.

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
        except (TypeError, ValueError, AttributeError) as error:
            raise BundleFormatError(f"malformed field: {error}") from None
        bundle._validate(data)
        return bundle

    @classmethod
    def _parse(cls, data: Mapping[str, Any]) -> "Bundle":
        c, p, model = data["circuit"], data["proof"], data["model"]
        srs = c["srs"]
        layout = layout_from_dict(model["layout"])
        circuit = CircuitRecord(
            k=int(c["k"]), input_scale=int(c["input_scale"]), output_scale=int(c["output_scale"]),
            settings=str(c["settings"]), manifest=dict(c["manifest"]), vk=_unb64(c["vk"], "circuit.vk"),
            vka=[_hex_bytes(w) for w in c["vka"]],
            srs=SrsRecord(str(srs["provenance"]), str(srs["sha256"]), int(srs["logrows"]),
                          None if srs["data"] is None else _unb64(srs["data"], "circuit.srs.data")))

        def market(i: int, m: Mapping[str, Any]) -> MarketRecord:
            outputs = m["outputs"]
            if set(outputs) != set(layout.names):
                raise BundleFormatError(f"markets[{i}].outputs: names {sorted(outputs)}, the layout declares "
                                        f"{list(layout.names)}")
            return MarketRecord(
                symbol=str(m["symbol"]), market_id=int(m["market_id"]), epoch=int(m["epoch"]),
                raw=RawData.from_dict(m["raw"], f"markets[{i}].raw"), vector=[float(x) for x in m["vector"]],
                input_hash=int(m["input_hash"], 16), data_hash=_hex_bytes(m["data_hash"]),
                outputs={n: OutputRecord(int(o["felt"], 16), float(o["value"]), int(o["wad"]), float(o["float_model"]))
                         for n, o in ((n, outputs[n]) for n in layout.names)},
                state_before=None if m["state_before"] is None
                else {n: float(m["state_before"][n]) for n in layout.state},
                explanation=m.get("explanation"))

        proposal = data.get("proposal")
        return cls(
            kind=data["kind"], created_at=str(data["created_at"]), model_id=str(model["model_id"]),
            model_version=str(model["version"]), card=dict(model["card"]), layout=layout, circuit=circuit,
            proof=_hex_bytes(p["hex"]), instances=[int(x, 16) for x in p["instances"]],
            error_bps={str(k): float(v) for k, v in p["error_bps"].items()},
            markets=[market(i, m) for i, m in enumerate(data["markets"])],
            batch=ReportBatch.from_dict(data["reports"]),
            chain=None if data.get("chain") is None else ChainRecord.from_dict(data["chain"]),
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
        k = self.circuit.k
        if len(self.markets) != k:
            raise BundleFormatError(f"markets: the circuit proves {k} markets, the bundle lists {len(self.markets)}")
        if len(self.batch.reports) != k:
            raise BundleFormatError(f"reports.reports: {len(self.batch.reports)} reports for {k} markets")
        if len(self.instances) != self.layout.instance_count(k):
            raise BundleFormatError(f"proof.instances: {len(self.instances)} values, a K={k} proof of layout "
                                    f"{self.layout.name} has {self.layout.instance_count(k)}")
        for i, (market, report) in enumerate(zip(self.markets, self.batch.reports)):
            if (report.market_id, report.epoch) != (market.market_id, market.epoch) \
                    or int.from_bytes(report.input_hash, "big") != market.input_hash \
                    or report.data_hash != market.data_hash:
                raise BundleFormatError(f"reports.reports[{i}] does not report markets[{i}] (market, epoch, input "
                                        "hash and data hash must be the market's)")
            if (market.state_before is None) != (not self.layout.state) or \
                    (market.state_before is not None and set(market.state_before) != set(self.layout.state)):
                raise BundleFormatError(f"markets[{i}].state_before: the layout's state is {list(self.layout.state)}")
        if self.kind == "proposal" and self.proposal is None:
            raise BundleFormatError("proposal: a proposal bundle needs its proposal record")

    # --- derived views used by the audit and the dashboard

    def decoded_outputs(self, layout: Layout | None = None) -> list[dict[str, int]]:
        """Per market, the output instances decoded to WAD with `layout` (default: the bundle's own)."""
        layout = layout or self.layout
        split = layout.split_instances(self.instances, self.circuit.k)
        return [{n: felt_to_wad(f, layout.scale) for n, f in zip(layout.names, felts)} for felts in split.outputs]

    def decoded_values(self, layout: Layout | None = None) -> list[dict[str, float]]:
        """Per market, the output instances as fractions (signed felt / 2^scale)."""
        layout = layout or self.layout
        split = layout.split_instances(self.instances, self.circuit.k)
        return [{n: signed_felt(f) / 2**layout.scale for n, f in zip(layout.names, felts)} for felts in split.outputs]

    def instance_hashes(self) -> list[int]:
        return self.layout.split_instances(self.instances, self.circuit.k).hashes

    def ezkl_proof_document(self) -> dict[str, Any]:
        """The proof file `ezkl.verify` reads, rebuilt from the bundle's proof bytes and instances."""
        # EZKL serialises field elements as little-endian hex without prefix.
        return {"instances": [[i.to_bytes(32, "little").hex() for i in self.instances]], "proof": list(self.proof)}


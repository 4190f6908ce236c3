"""Publisher reports: what k of n independent publishers sign about each (market, epoch) of an update.

A report binds, for one market and epoch, the Poseidon hash of the proved input vector (the proof's
instance), a keccak256 of the raw bars the vector was computed from (`data_hash`) and the time the
data was observed. Publishers sign the EIP-712 digest of a batch of reports (`ReportBatch`, the
markets of one proof in proof order) for one oracle on one chain; the oracle recovers the signers in
the update transaction (OpenZeppelin ECDSA) and needs k distinct current publishers. A signature over
anything else (a conflicting report, another batch, another oracle) recovers to another address and
simply does not count.

`data_hash` is keccak256 over a canonical encoding of the raw data, so an auditor shown the bars can
check they are the ones the publishers attested (the input hash alone commits the features rounded
to the circuit's input scale: it does not change when a close moves by 1e-6, nor when every price is
scaled by one factor, and says nothing of open, high, low or volume):

    data_hash = keccak256( "zkrisk-data/1" ‖ uint8 kind ‖ uint32 rows ‖ rows... ‖ (next series...) )

with one series per kind, in this order: hourly OHLCV bars (kind 1), then, when the feature set reads
implied vol, DVOL daily OHLC bars (kind 2); each row is abi.encode-style 32-byte big-endian words:
uint64 bar open time (Unix seconds) then each value as int256 round(value · 10^8) (half to even, from
the value's shortest round-trip decimal representation: exact for exchange prints of up to 8 decimals).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Iterable, Sequence

import pandas as pd
from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address

from models.versions import MarketData

DATA_HASH_DOMAIN = b"zkrisk-data/1"
#: Decimal places of the canonical encoding.
DATA_DECIMALS = 8
HOURLY_COLUMNS = ("open", "high", "low", "close", "volume")
DVOL_COLUMNS = ("open", "high", "low", "close")
#: The oracle's EIP-712 domain name and version (RiskOracle's EIP712 constructor arguments).
DOMAIN_NAME, DOMAIN_VERSION = "zkrisk RiskOracle", "2"
REPORT_FIELDS = [{"name": "marketId", "type": "uint64"}, {"name": "epoch", "type": "uint64"},
                 {"name": "inputHash", "type": "bytes32"}, {"name": "dataHash", "type": "bytes32"},
                 {"name": "observedAt", "type": "uint64"}]


def _fixed(value: float) -> int:
    return int((Decimal(repr(float(value))) * 10**DATA_DECIMALS).to_integral_value(ROUND_HALF_EVEN))


def _word(value: int) -> bytes:
    return value.to_bytes(32, "big", signed=True)


def _series(kind: int, frame: pd.DataFrame, columns: Sequence[str]) -> bytes:
    rows = [_word(int(ts.timestamp())) + b"".join(_word(_fixed(v)) for v in values)
            for ts, values in zip(frame.index, frame.loc[:, list(columns)].itertuples(index=False))]
    return bytes([kind]) + len(rows).to_bytes(4, "big") + b"".join(rows)


def data_hash(data: MarketData) -> bytes:
    """keccak256 of the canonical encoding of an update's raw bars (see the module docstring)."""
    encoded = DATA_HASH_DOMAIN + _series(1, data.hourly, HOURLY_COLUMNS)
    if data.dvol is not None:
        encoded += _series(2, data.dvol, DVOL_COLUMNS)
    return keccak(encoded)


@dataclass(frozen=True)
class Report:
    """One market's report; `input_hash` and `data_hash` are 32-byte values."""

    market_id: int
    epoch: int
    input_hash: bytes
    data_hash: bytes
    observed_at: int

    def __post_init__(self) -> None:
        if len(self.input_hash) != 32 or len(self.data_hash) != 32:
            raise ValueError("input_hash and data_hash are 32 bytes")

    def as_tuple(self) -> tuple[int, int, bytes, bytes, int]:
        """`IRiskOracle.Report` as an ABI tuple."""
        return (self.market_id, self.epoch, self.input_hash, self.data_hash, self.observed_at)

    def to_dict(self) -> dict[str, Any]:
        return {"market_id": self.market_id, "epoch": self.epoch, "input_hash": "0x" + self.input_hash.hex(),
                "data_hash": "0x" + self.data_hash.hex(), "observed_at": self.observed_at}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "Report":
        return cls(int(data["market_id"]), int(data["epoch"]), bytes.fromhex(data["input_hash"].removeprefix("0x")),
                   bytes.fromhex(data["data_hash"].removeprefix("0x")), int(data["observed_at"]))


@dataclass(frozen=True)
class Domain:
    """The oracle a signature is for: its chain and address (EIP-712 domain)."""

    chain_id: int
    oracle: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": self.chain_id,
                "verifyingContract": to_checksum_address(self.oracle)}


def typed_batch(domain: Domain, reports: Sequence[Report]) -> dict[str, Any]:
    """The EIP-712 message of a batch (RiskOracle.REPORT_BATCH_TYPEHASH), for any EIP-712 signer."""
    return {
        "types": {"EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                   {"name": "chainId", "type": "uint256"},
                                   {"name": "verifyingContract", "type": "address"}],
                  "ReportBatch": [{"name": "reports", "type": "Report[]"}],
                  "Report": REPORT_FIELDS},
        "primaryType": "ReportBatch",
        "domain": domain.to_dict(),
        "message": {"reports": [{"marketId": r.market_id, "epoch": r.epoch, "inputHash": r.input_hash,
                                 "dataHash": r.data_hash, "observedAt": r.observed_at} for r in reports]},
    }


@dataclass(frozen=True)
class Signature:
    """An EIP-2098 compact signature and the address that made it."""

    signer: str
    r: bytes
    vs: bytes

    def as_tuple(self) -> tuple[bytes, bytes]:
        return (self.r, self.vs)

    def to_dict(self) -> dict[str, str]:
        return {"signer": self.signer, "r": "0x" + self.r.hex(), "vs": "0x" + self.vs.hex()}

    @classmethod
    def from_dict(cls, data: dict[str, str]) -> "Signature":
        return cls(to_checksum_address(data["signer"]), bytes.fromhex(data["r"].removeprefix("0x")),
                   bytes.fromhex(data["vs"].removeprefix("0x")))


def sign_reports(private_key: str | bytes, domain: Domain, reports: Sequence[Report]) -> Signature:
    """A publisher's signature of a batch."""
    signed = Account.sign_message(encode_typed_data(full_message=typed_batch(domain, reports)), private_key)
    vs = signed.s | ((signed.v - 27) << 255)
    return Signature(Account.from_key(private_key).address, signed.r.to_bytes(32, "big"), vs.to_bytes(32, "big"))


def recover_signer(domain: Domain, reports: Sequence[Report], signature: Signature) -> str:
    """The address a compact signature of this batch recovers to (what the oracle computes)."""
    vs = int.from_bytes(signature.vs, "big")
    v, s = 27 + (vs >> 255), vs & ((1 << 255) - 1)
    return Account.recover_message(encode_typed_data(full_message=typed_batch(domain, reports)),
                                   vrs=(v, int.from_bytes(signature.r, "big"), s))


def ordered(signatures: Iterable[Signature]) -> list[Signature]:
    """Signatures in the strictly increasing signer order the oracle counts, one per signer."""
    by_signer = {int(s.signer, 16): s for s in signatures}
    return [by_signer[k] for k in sorted(by_signer)]


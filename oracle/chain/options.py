"""Client side of the OptionsMarginEngine: series ids, EIP-712 orders, and reading an account as the
float reference's positions (models.options) so the service can quote margin off chain.

Amounts on chain are WAD integers: strikes and premiums in cash units (18 decimals), sizes in contracts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account import Account

from models.options import Position
from models.spec import WAD

#: EIP-712 domain name and version of contracts/consumers/OptionsMarginEngine.sol.
DOMAIN_NAME = "zkrisk OptionsMarginEngine"
DOMAIN_VERSION = "1"
ORDER_FIELDS = [
    {"name": "maker", "type": "address"},
    {"name": "taker", "type": "address"},
    {"name": "seriesId", "type": "uint256"},
    {"name": "size", "type": "int256"},
    {"name": "premium", "type": "int256"},
    {"name": "nonce", "type": "uint256"},
    {"name": "deadline", "type": "uint64"},
]
ZERO_ADDRESS = "0x" + "00" * 20


def series_id(market: int, expiry: int, strike: int, is_call: bool) -> int:
    """The packed series id (bit 0 isCall, 1-127 strike WAD, 128-191 expiry, 192-255 market)."""
    if not 0 < strike < 2**127:
        raise ValueError(f"strike {strike} outside (0, 2**127)")
    return market << 192 | expiry << 128 | strike << 1 | int(is_call)


def decode_series(sid: int) -> tuple[int, int, int, bool]:
    """(market, expiry, strike WAD, is_call) of a series id."""
    return sid >> 192, (sid >> 128) & (2**64 - 1), (sid >> 1) & (2**127 - 1), bool(sid & 1)


@dataclass(frozen=True)
class Order:
    """IOptionsMarginEngine.Order: `size` is the maker's change, `premium` what the maker receives (WAD)."""

    maker: str
    series_id: int
    size: int
    premium: int
    nonce: int
    deadline: int
    taker: str = ZERO_ADDRESS

    def as_tuple(self) -> tuple:
        return (self.maker, self.taker, self.series_id, self.size, self.premium, self.nonce, self.deadline)

    def typed_data(self, engine: str, chain_id: int) -> dict[str, Any]:
        return {
            "types": {
                "EIP712Domain": [{"name": "name", "type": "string"}, {"name": "version", "type": "string"},
                                 {"name": "chainId", "type": "uint256"},
                                 {"name": "verifyingContract", "type": "address"}],
                "Order": ORDER_FIELDS,
            },
            "primaryType": "Order",
            "domain": {"name": DOMAIN_NAME, "version": DOMAIN_VERSION, "chainId": chain_id,
                       "verifyingContract": engine},
            "message": {"maker": self.maker, "taker": self.taker, "seriesId": self.series_id, "size": self.size,
                        "premium": self.premium, "nonce": self.nonce, "deadline": self.deadline},
        }

    def sign(self, private_key: str, engine: str, chain_id: int) -> bytes:
        """The maker's 65-byte signature (r, s, v)."""
        return bytes(Account.sign_typed_data(private_key, full_message=self.typed_data(engine, chain_id)).signature)


def reference_positions(engine: Any, account: str) -> list[Position]:
    """An account's positions as models.options positions (floats), with any fixed settlement price."""
    positions = []
    for sid, size in engine.positionsOf(account):
        market, expiry, strike, is_call = decode_series(sid)
        fixed = engine.settlementPrice(market, expiry)
        positions.append(Position(market=market, strike=strike / WAD, expiry=expiry, is_call=is_call, size=size / WAD,
                                  settlement_price=fixed / WAD if fixed else None))
    return positions

"""Client side of the options engine: series ids and EIP-712 orders (the engine's side is in
tests/contracts/test_options_engine.py, which checks its digest against these typed data)."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from oracle.chain.options import Order, decode_series, series_id


def test_series_id_round_trips_and_packs_bits():
    sid = series_id(2, 1_760_000_000, 3_100 * 10**18, True)
    assert decode_series(sid) == (2, 1_760_000_000, 3_100 * 10**18, True)
    assert sid & 1 == 1 and sid >> 192 == 2
    assert decode_series(series_id(1, 5, 1, False)) == (1, 5, 1, False)


@pytest.mark.parametrize("strike", [0, 2**127])
def test_series_id_rejects_strike_outside_range(strike):
    with pytest.raises(ValueError, match="strike"):
        series_id(1, 5, strike, True)


def test_order_signature_recovers_maker():
    maker = Account.create()
    engine = "0x" + "ab" * 20
    order = Order(maker=maker.address, series_id=series_id(1, 5, 10**18, True), size=-(10**18), premium=10**20,
                  nonce=3, deadline=99)
    signature = order.sign(maker.key.hex(), engine, chain_id=31_337)
    message = encode_typed_data(full_message=order.typed_data(engine, 31_337))
    assert Account.recover_message(message, signature=signature) == maker.address
    assert order.as_tuple()[1] == "0x" + "00" * 20  # any taker by default

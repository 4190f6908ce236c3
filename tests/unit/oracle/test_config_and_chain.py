"""Settings, key handling and revert decoding (no node needed)."""

from __future__ import annotations

import json

from eth_abi import encode
from eth_account import Account
from eth_utils import keccak

from oracle.chain.client import ErrorDecoder
from oracle.services import signer
from oracle.settings import Settings

EPOCH_NOT_INCREASING = {"type": "error", "name": "EpochNotIncreasing", "inputs": [
    {"name": "marketId", "type": "uint64"}, {"name": "epoch", "type": "uint64"}, {"name": "lastEpoch", "type": "uint64"}]}


def test_custom_errors_are_decoded_by_name_and_arguments():
    decoder = ErrorDecoder([[EPOCH_NOT_INCREASING]])
    data = keccak(text="EpochNotIncreasing(uint64,uint64,uint64)")[:4] + encode(["uint64"] * 3, [1, 20150, 20160])
    error = decoder.decode("0x" + data.hex())
    assert (error.name, error.args_by_name, error.kind) == (
        "EpochNotIncreasing", {"marketId": 1, "epoch": 20150, "lastEpoch": 20160}, "contract-revert")
    assert decoder.decode(b"\x12\x34\x56\x78").name == "UnknownRevert"
    reason = keccak(text="Error(string)")[:4] + encode(["string"], ["paused"])
    assert decoder.decode(reason).args_by_name == {"message": "paused"}


def test_settings_round_trip_through_the_environment(monkeypatch, tmp_path):
    original = Settings(database_url="postgresql+psycopg://db/x", broker_url="redis://r:6379/1", embedded_worker=False,
                        markets=["eth"], batch_sizes=[2, 1], publisher_keys=["0x" + "11" * 32], signer_key="0x" + "22" * 32,
                        deployment_path=tmp_path / "d.json")
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original
    assert original.markets == ["ETH"] and original.batch_sizes == [1, 2]
    assert "22" * 32 not in repr(original) and "11" * 32 not in repr(original)


def test_the_signer_comes_from_an_encrypted_keystore(tmp_path):
    account = Account.create()
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(Account.encrypt(account.key, "correct horse")))
    settings = Settings(keystore_path=path, keystore_password="correct horse", embedded_worker=False,
                        start_anvil=False)
    assert signer(settings).address == account.address

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
                        markets=["eth"], models={"har-policy@2.0.0": [2, 1]}, publisher_keys=["0x" + "11" * 32],
                        publisher_urls=["http://127.0.0.1:9100"], signer_key="0x" + "22" * 32,
                        deployment_path=tmp_path / "d.json", replay_from="2022-11-01", replay_speed=3600)
    for name, value in original.to_env().items():
        monkeypatch.setenv(name, value)
    assert Settings() == original
    assert original.markets == ["ETH"] and original.models == {"har-policy@2.0.0": [1, 2]}
    assert original.replay_from.isoformat() == "2022-11-01"
    assert "22" * 32 not in repr(original) and "11" * 32 not in repr(original)


def test_the_signer_comes_from_an_encrypted_keystore(tmp_path):
    account = Account.create()
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(Account.encrypt(account.key, "correct horse")))
    settings = Settings(keystore_path=path, keystore_password="correct horse", embedded_worker=False,
                        start_anvil=False)
    assert signer(settings).address == account.address


def test_models_are_validated():
    import pytest
    from pydantic import ValidationError

    for models, message in (({"har-policy": [1]}, "model_id@version"), ({"har-policy@2.0.0": [2]}, "include 1"),
                            ({}, "at least one")):
        with pytest.raises(ValidationError, match=message):
            Settings(models=models)
    default = Settings()
    assert default.models == {"har-policy@2.0.0": [1, 2], "har-margin@1.0.0": [1]}


def test_a_report_request_round_trips_and_rejects_bad_orders():
    import pytest

    from oracle.publisher import ReportRequest

    request = ReportRequest("har-policy@2.0.0", 13, (("BTC", 20100), ("ETH", 20100)))
    params = request.to_params()
    assert params == {"model": "har-policy@2.0.0", "input_scale": "13", "markets": "BTC,ETH", "epoch": "20100"}
    assert ReportRequest.from_params(**{**params, "input_scale": 13, "epoch": 20100}) == request
    mixed = ReportRequest("har-policy@2.0.0", 13, (("BTC", 20100), ("ETH", 20101)))
    assert ReportRequest.from_params("har-policy@2.0.0", 13, "BTC,ETH", epochs="20100,20101") == mixed
    with pytest.raises(ValueError, match="increasing"):
        ReportRequest("har-policy@2.0.0", 13, (("ETH", 20100), ("BTC", 20100)))
    with pytest.raises(ValueError, match="either epoch"):
        ReportRequest.from_params("har-policy@2.0.0", 13, "BTC")

"""Proof bundle format: round trip, trimming of the raw window, and a named error for each malformation."""

from __future__ import annotations

import json

import pytest

from oracle.bundle import FORMAT, Bundle, BundleFormatError, build_bundle

pytestmark = pytest.mark.slow  # needs the session's real proof


@pytest.fixture(scope="module")
def bundle(circuit_k1, proved_update) -> Bundle:
    return build_bundle(circuit_k1, proved_update, {"BTC": circuit_k1.version.market_frame("BTC")},
                        {"BTC": {"kind": "bundled-replay", "dataset": "binance_spot_daily"}})


@pytest.fixture()
def document(bundle) -> dict:
    return json.loads(bundle.to_bytes())


def test_round_trip_is_byte_identical(bundle, tmp_path):
    path = bundle.save(tmp_path / "update.json")
    loaded = Bundle.load(path)
    assert loaded.to_bytes() == path.read_bytes()
    assert loaded.sha256 == bundle.sha256
    assert json.loads(path.read_bytes())["format"] == FORMAT


def test_contents_match_the_proof(bundle, proved_update, btc_vector, circuit_k1):
    market = bundle.markets[0]
    assert (market.symbol, market.market_id, market.epoch) == ("BTC", 1, int(btc_vector[1]))
    assert market.commitment == proved_update.input_hashes[0] == bundle.instance_hashes()[0]
    assert bundle.decoded_outputs() == [m.wad for m in proved_update.markets]
    assert bundle.circuit.vk == circuit_k1.paths.vk.read_bytes()
    # a development SRS is embedded: nobody else could verify without it
    assert bundle.circuit.srs.data == circuit_k1.srs.path.read_bytes()


def test_raw_window_is_trimmed_to_what_the_features_read(bundle, production_version):
    raw = bundle.markets[0].raw.frame
    assert len(raw) == production_version.lookback_bars  # exactly the bars input_vector reads
    assert production_version.input_vector("BTC", frame=raw).tolist() == bundle.markets[0].vector


def test_frame_that_does_not_reproduce_the_vector_is_refused(circuit_k1, proved_update):
    earlier = circuit_k1.version.market_frame("BTC").iloc[:-1]
    with pytest.raises(BundleFormatError, match="do not reproduce the proved input vector"):
        build_bundle(circuit_k1, proved_update, {"BTC": earlier}, {"BTC": {"kind": "bundled-replay"}})


def _corrupt(document: dict, path: str, value) -> dict:
    *parents, last = path.split(".")
    node = document
    for key in parents:
        node = node[int(key)] if isinstance(node, list) else node[key]
    if value is KeyError:
        del node[last]
    else:
        node[last] = value
    return document


@pytest.mark.parametrize("path, value, message", [
    ("format", "zkrisk-bundle/0", "format: expected"),
    ("kind", "rumour", "kind: expected"),
    ("proof.instances", [], "proof.instances: 0 values"),
    ("circuit.vk_sha256", "00" * 32, "circuit.vk_sha256 is"),
    ("circuit.settings", "{}", "circuit.settings_sha256 is"),
    ("circuit.vka_digest", "0x" + "00" * 32, "circuit.vka_digest is"),
    ("circuit.vk", "not base64!", "circuit.vk: not valid base64"),
    ("model.card_sha256", "00" * 32, "model.card_sha256 is"),
    ("circuit.srs.sha256", "00" * 32, "circuit.srs.data does not hash"),
    ("markets.0.raw.source", {}, r"markets\[0\].raw.source"),
    ("markets.0.outputs", KeyError, "missing field 'outputs'"),
    ("markets", [], "markets: the circuit proves 1 markets"),
    ("kind", "proposal", "a proposal bundle needs its proposal record"),
])
def test_malformed_bundles_name_the_field(document, tmp_path, path, value, message):
    file = tmp_path / "bad.json"
    file.write_text(json.dumps(_corrupt(document, path, value)))
    with pytest.raises(BundleFormatError, match=message):
        Bundle.load(file)


def test_not_json_and_missing_file(tmp_path):
    (tmp_path / "x.json").write_text("{")
    with pytest.raises(BundleFormatError, match="is not JSON"):
        Bundle.load(tmp_path / "x.json")
    with pytest.raises(BundleFormatError, match="no bundle at"):
        Bundle.load(tmp_path / "missing.json")

"""Proof bundle format zkrisk-bundle/2: the pure builder, its refusals, round trip, and a named error
for each malformation."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from eth_account import Account

from models.features import DAY, epoch_start
from models.spec import LENDING
from oracle.bundle import (BUNDLED_SOURCE, FORMAT, Bundle, BundleError, BundleFormatError, RawData, ReportBatch,
                           layout_to_dict)
from oracle.reports import Domain, Report, data_hash, recover_signer, sign_reports

pytestmark = pytest.mark.slow  # needs the session's real proof

PUBLISHERS = [Account.from_key(bytes([i]) * 32) for i in (1, 2)]
DOMAIN = Domain(31337, "0x" + "ab" * 20)


def _report(proof, data, **changes) -> Report:
    vector = proof.vectors[0]
    report = Report(int(vector[0]), int(vector[1]), proof.input_hashes[0].to_bytes(32, "big"), data_hash(data),
                    int(vector[1]) * 86_400)
    return replace(report, **changes)


def _batch(*reports: Report) -> ReportBatch:
    return ReportBatch(DOMAIN, list(reports), [sign_reports(p.key, DOMAIN, reports) for p in PUBLISHERS])


@pytest.fixture(scope="module")
def window(production_version):
    return production_version.window_data("BTC")


@pytest.fixture(scope="module")
def bundle(circuit_k1, proved_update, window) -> Bundle:
    return Bundle.for_update(circuit_k1, proved_update, [RawData(dict(BUNDLED_SOURCE), window)],
                             _batch(_report(proved_update, window)))


@pytest.fixture()
def document(bundle) -> dict:
    return json.loads(bundle.to_bytes())


def test_round_trip_is_byte_identical(bundle, tmp_path):
    path = bundle.save(tmp_path / "update.json")
    loaded = Bundle.load(path)
    assert loaded.to_bytes() == path.read_bytes()
    assert loaded.sha256 == bundle.sha256 and loaded.content_sha256 == bundle.content_sha256
    assert json.loads(path.read_bytes())["format"] == FORMAT


def test_contents_match_the_proof(bundle, proved_update, btc_vector, circuit_k1):
    market = bundle.markets[0]
    assert (market.symbol, market.market_id, market.epoch) == ("BTC", 1, int(btc_vector[1]))
    assert market.input_hash == proved_update.input_hashes[0] == bundle.instance_hashes()[0]
    assert bundle.decoded_outputs() == [m.wad for m in proved_update.markets] == [market.wad]
    assert {n: o.felt for n, o in market.outputs.items()} == proved_update.markets[0].fixed
    assert bundle.circuit.vk == circuit_k1.paths.vk.read_bytes()
    # a development SRS is embedded: nobody else could verify without it
    assert bundle.circuit.srs.data == circuit_k1.srs.path.read_bytes()


def test_declared_layout_and_policy_state_are_recorded(bundle, document):
    assert bundle.layout == LENDING
    assert document["model"]["layout"] == layout_to_dict(LENDING)
    market = document["markets"][0]
    assert market["state_before"] == dict(zip(LENDING.state, LENDING.initial_state))  # a first update
    assert market["state_after"] == {n: market["outputs"][n]["value"] for n in LENDING.state}
    assert set(market["outputs"]) == set(LENDING.names)


def test_raw_bars_are_what_the_features_read_and_hash_to_the_report(bundle, production_version, window):
    raw = bundle.markets[0].raw.data
    assert len(raw.hourly) == production_version.lookback_bars and raw.dvol is None
    assert data_hash(raw) == data_hash(window) == bundle.batch.reports[0].data_hash == bundle.markets[0].data_hash
    loaded = Bundle.from_dict(json.loads(bundle.to_bytes()))
    assert data_hash(loaded.markets[0].raw.data) == bundle.markets[0].data_hash  # survives JSON


def test_signed_batch_recovers_to_its_signers(bundle):
    batch = Bundle.from_dict(json.loads(bundle.to_bytes())).batch
    assert [recover_signer(batch.domain, batch.reports, s) for s in batch.signatures] == \
        [p.address for p in PUBLISHERS]


def test_rebuilding_twenty_times_gives_the_same_content(circuit_k1, proved_update, production_version, bundle):
    """The vector recomputed from the bars is compared within a tolerance, never bit for bit (issue 13:
    a vectorised log differed in the last bit between calls), so every rebuild succeeds alike."""
    for _ in range(20):
        window = production_version.window_data("BTC")
        rebuilt = Bundle.for_update(circuit_k1, proved_update, [RawData(dict(BUNDLED_SOURCE), window)],
                                    bundle.batch, explanations=[bundle.markets[0].explanation])
        assert rebuilt.content_sha256 == bundle.content_sha256


def test_bars_that_do_not_reproduce_the_vector_are_refused(circuit_k1, proved_update, production_version):
    earlier = production_version.window_data("BTC", end=epoch_start(int(proved_update.vectors[0][1])) - 2 * DAY)
    with pytest.raises(BundleError, match="do not reproduce the proved input vector"):
        Bundle.for_update(circuit_k1, proved_update, [RawData(dict(BUNDLED_SOURCE), earlier)],
                          _batch(_report(proved_update, earlier)))


@pytest.mark.parametrize("change, message", [
    ({"data_hash": b"\x01" * 32}, "the report's data hash"),
    ({"input_hash": b"\x02" * 32}, "the report's input hash is not the proof's"),
    ({"epoch": 1}, "report 0 is for market 1 epoch 1"),
])
def test_a_report_that_is_not_the_proofs_is_refused(circuit_k1, proved_update, window, change, message):
    with pytest.raises(BundleError, match=message):
        Bundle.for_update(circuit_k1, proved_update, [RawData(dict(BUNDLED_SOURCE), window)],
                          _batch(_report(proved_update, window, **change)))


def test_a_missing_market_is_refused(circuit_k1, proved_update, window):
    with pytest.raises(BundleError, match="needs 1 raw data sets and reports"):
        Bundle.for_update(circuit_k1, proved_update, [], _batch(_report(proved_update, window)))


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
    ("format", "zkrisk-bundle/1", "format: expected"),
    ("kind", "rumour", "kind: expected"),
    ("proof.instances", [], "proof.instances: 0 values"),
    ("circuit.vk_sha256", "00" * 32, "circuit.vk_sha256 is"),
    ("circuit.settings", "{}", "circuit.settings_sha256 is"),
    ("circuit.vka_digest", "0x" + "00" * 32, "circuit.vka_digest is"),
    ("circuit.vk", "not base64!", "circuit.vk: not valid base64"),
    ("model.card_sha256", "00" * 32, "model.card_sha256 is"),
    ("model.layout.outputs.0.kind", "rumour", "malformed field"),
    ("circuit.srs.sha256", "00" * 32, "circuit.srs.data does not hash"),
    ("markets.0.raw.source", {}, r"markets\[0\].raw.source"),
    ("markets.0.raw.hourly.index", ["2025-01-01T00:00:00"], r"markets\[0\].raw: unreadable raw bars"),
    ("markets.0.outputs.lt", KeyError, r"markets\[0\].outputs: names"),
    ("markets.0.state_before", None, r"markets\[0\].state_before: the layout's state"),
    ("markets.0.data_hash", "0x" + "00" * 32, r"reports.reports\[0\] does not report markets\[0\]"),
    ("reports.reports", [], "reports.reports: 0 reports for 1 markets"),
    ("reports.signatures.0.r", "0xzz", "malformed field"),
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

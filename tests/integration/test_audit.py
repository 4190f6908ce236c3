"""`zkrisk audit` on a real update published on anvil: the honest bundle passes every check, and each
manipulated part of a bundle fails the check that covers it, with a message and without a crash."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import ezkl
import pytest
from typer.testing import CliRunner

from models.spec import FIELD_MODULUS, felt_to_wad, signed_felt
from oracle.audit import TITLES, audit_bundle
from oracle.audit.checks import CHAIN_CHECKS
from oracle.bundle import Bundle, OutputRecord, RawData, sha256_hex
from oracle.cli import app
from oracle.reports import sign_reports
from published import Published, publish

pytestmark = [pytest.mark.slow, pytest.mark.chain]


@pytest.fixture(scope="module")
def published(accounts, chain, circuit_k1, proved_update, tmp_path_factory) -> Published:
    return publish(accounts, chain, circuit_k1, proved_update, tmp_path_factory.mktemp("audit"))


@pytest.fixture(scope="module")
def rpc(chain, published) -> str:
    return chain.provider.http_uri


def test_honest_bundle_passes_every_check_and_gets_a_report(published, rpc, tmp_path):
    report = tmp_path / "audit.html"
    result = CliRunner().invoke(app, ["audit", str(published.bundle_path), "--rpc", rpc, "--report", str(report)])
    assert result.exit_code == 0, result.output
    for number, title in TITLES.items():
        assert f"PASS {number}. {title}" in result.output
    assert "getRiskParameters serves max LTV" in result.output
    page = report.read_text()
    assert "ALL CHECKS PASS" in page and page.count("data:image/png;base64,") >= 2


def test_bundle_records_receipt_status_and_gas(published):
    record = published.bundle.chain
    assert (record.status, record.gas_used) == (1, published.receipt.gas_used) and record.gas_used > 0


def test_transaction_alone_is_audited_from_the_chain_and_the_repository(published, rpc):
    result = CliRunner().invoke(app, ["audit", "--tx", str(published.receipt.txn_hash), "--rpc", rpc])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == len(TITLES)


def test_a_transaction_that_is_no_update_is_refused_with_exit_code_2(published, rpc):
    other = published.keeper.transfer(published.keeper, 0)
    result = CliRunner().invoke(app, ["audit", "--tx", str(other.txn_hash), "--rpc", rpc])
    assert result.exit_code == 2 and "cannot audit" in result.output


def test_an_unreadable_bundle_is_refused_with_exit_code_2(tmp_path):
    (tmp_path / "bad.json").write_text('{"format": "zkrisk-bundle/1"}')
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "format: expected" in result.output


def test_without_a_chain_only_the_chain_checks_fail(published):
    result = audit_bundle(published.bundle)
    assert result.failed() == list(CHAIN_CHECKS)
    assert all("not checked: no chain" in c.details[0] for c in result.checks if not c.passed)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _market(bundle: Bundle, **changes) -> Bundle:
    return replace(bundle, markets=[replace(bundle.markets[0], **changes)])


def _raw_close(bundle: Bundle, _: Published) -> Bundle:
    """One close 1% higher: the features and the data hash move."""
    raw = bundle.markets[0].raw
    hourly = raw.data.hourly.copy()
    hourly.iloc[-1, hourly.columns.get_loc("close")] *= 1.01
    return _market(bundle, raw=RawData(raw.source, replace(raw.data, hourly=hourly)))


def _signatures(bundle: Bundle, signatures) -> Bundle:
    return replace(bundle, batch=replace(bundle.batch, signatures=signatures))


def _forged_signature(bundle: Bundle, published: Published) -> Bundle:
    """The first publisher's name on a signature of another batch (an epoch later)."""
    batch = bundle.batch
    other = [replace(batch.reports[0], epoch=batch.reports[0].epoch + 1)]
    forged = replace(sign_reports(published.publishers[0].private_key, batch.domain, other),
                     signer=batch.signatures[0].signer)
    return _signatures(bundle, [forged, *batch.signatures[1:]])


def _signer(bundle: Bundle, account) -> Bundle:
    """The second signature replaced by `account`'s genuine signature of the batch."""
    batch = bundle.batch
    return _signatures(bundle, [batch.signatures[0], sign_reports(account.private_key, batch.domain, batch.reports)])


def _observed_early(bundle: Bundle, published: Published) -> Bundle:
    """Reports re-signed by the same publishers, but observed an hour before the last bar closed."""
    batch = bundle.batch
    reports = [replace(batch.reports[0], observed_at=batch.reports[0].observed_at - 3_600)]
    signatures = [sign_reports(p.private_key, batch.domain, reports) for p in published.publishers[:2]]
    return replace(bundle, batch=replace(batch, reports=reports, signatures=signatures))


def _output(bundle: Bundle, _: Published) -> Bundle:
    lt = bundle.markets[0].outputs["lt"]
    return _market(bundle, outputs={**bundle.markets[0].outputs, "lt": replace(lt, wad=lt.wad + 1)})


def _restate_outputs(bundle: Bundle) -> Bundle:
    """Outputs restated from (tampered) instances, so the bundle is a consistent liar."""
    layout, market = bundle.layout, bundle.markets[0]
    felts = layout.split_instances(bundle.instances, 1).outputs[0]
    outputs = {n: OutputRecord(f, signed_felt(f) / 2**layout.scale, felt_to_wad(f, layout.scale),
                               market.outputs[n].float_model) for n, f in zip(layout.names, felts)}
    return _market(bundle, outputs=outputs)


def _instance(bundle: Bundle, delta: int) -> Bundle:
    """The lending layout's `vol` output instance moved by `delta` felts, outputs restated."""
    index = bundle.layout.instance_count(1) - bundle.layout.width  # first output of the only market
    instances = list(bundle.instances)
    instances[index] = (instances[index] + delta) % FIELD_MODULUS
    return _restate_outputs(replace(bundle, instances=instances))


def _settings(bundle: Bundle, _: Published) -> Bundle:
    settings = json.loads(bundle.circuit.settings)
    settings["run_args"]["num_inner_cols"] += 1
    return replace(bundle, circuit=replace(bundle.circuit, settings=json.dumps(settings)))


def _other_srs(bundle: Bundle, _: Published) -> Bundle:
    """A development SRS of the right size, but not the one the keys were made with."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "other.srs"
        ezkl.gen_srs(str(path), bundle.circuit.srs.logrows)
        data = path.read_bytes()
    srs = replace(bundle.circuit.srs, data=data, sha256=sha256_hex(data))
    return replace(bundle, circuit=replace(bundle.circuit, srs=srs))


def _generous_tolerance(bundle: Bundle, _: Published) -> Bundle:
    """A bundle that sets its own bar: its manifest allows 10,000 bp, and vol is 10 bp off the float model
    (the consistent liar of an unsound circuit); the repository's manifest allows 1 bp."""
    manifest = {**bundle.circuit.manifest,
                "calibration_plan": {**bundle.circuit.manifest["calibration_plan"], "tolerance_bps": 10_000.0}}
    lying = _instance(bundle, int(2**bundle.layout.scale * 1e-3))
    return replace(lying, circuit=replace(lying.circuit, manifest=manifest))


def _state_before(bundle: Bundle, _: Published) -> Bundle:
    return _market(bundle, state_before={**bundle.markets[0].state_before, "lt": 0.80})


def _chain(bundle: Bundle, **changes) -> Bundle:
    return replace(bundle, chain=replace(bundle.chain, **changes))


def _other_transaction(bundle: Bundle, published: Published) -> Bundle:
    receipt = published.keeper.transfer(published.keeper, 0)
    return _chain(bundle, tx_hash=str(receipt.txn_hash), block_number=int(receipt.block_number),
                  gas_used=int(receipt.gas_used))


TAMPERS: dict[str, tuple[Callable[[Bundle, Published], Bundle], set[int]]] = {
    "raw bar": (_raw_close, {1}),
    "observation before the data closed": (_observed_early, {1, 9}),
    "forged signature": (_forged_signature, {2, 9}),
    "signature of a publisher revoked before the update": (lambda b, p: _signer(b, p.revoked_before), {2, 9}),
    "signature of a key that never was a publisher": (lambda b, p: _signer(b, p.keeper), {2, 9}),
    "model card": (lambda b, _: replace(b, card={**b.card, "window": b.card["window"] + 1}), {3}),
    "declared layout": (lambda b, _: replace(b, layout=replace(b.layout, name="lending-v0")), {3}),
    "settings": (_settings, {3}),
    "verification key": (lambda b, _: replace(b, circuit=replace(b.circuit, vk=_flip(b.circuit.vk, 100))), {4, 5, 6}),
    "SRS": (_other_srs, {4, 5}),
    "proof bytes": (lambda b, _: replace(b, proof=_flip(b.proof, len(b.proof) // 2)), {5, 6, 9}),
    "VKA": (lambda b, _: replace(b, circuit=replace(b.circuit, vka=[bytes(32), *b.circuit.vka[1:]])), {6}),
    "output": (_output, {7}),
    "output instance (consistent liar)": (lambda b, _: _instance(b, 1), {5, 6, 9}),
    "tolerance from the bundle's manifest": (_generous_tolerance, {3, 7}),
    "state before": (_state_before, {7, 8}),
    "wrong model id": (lambda b, _: _chain(b, model_id=b.chain.model_id + 1), {6, 9}),
    "chain id": (lambda b, _: _chain(b, chain_id=b.chain.chain_id + 1), set(CHAIN_CHECKS)),
    "receipt gas": (lambda b, _: _chain(b, gas_used=b.chain.gas_used + 1), {9}),
    "transaction hash": (_other_transaction, {9}),
}


@pytest.mark.parametrize("part", TAMPERS)
def test_tampered_part_fails_its_check(published, rpc, part):
    tamper, failing = TAMPERS[part]
    # through the file format, as an auditor would receive it
    tampered = Bundle.from_dict(json.loads(tamper(published.bundle, published).to_bytes()))
    result = audit_bundle(tampered, rpc=rpc, only=tuple(sorted(failing)))
    assert result.failed() == sorted(failing), [(c.number, c.details) for c in result.checks]
    assert all(c.details and c.details[0] for c in result.checks)
    assert not result.passed


def test_signature_of_a_publisher_revoked_after_the_update_still_counts(published, rpc):
    """The publisher set is read at the update's block: a later revocation does not unmake the update."""
    assert not published.deployment.oracle.isPublisher(published.revoked_after.address)
    bundle = _signer(published.bundle, published.revoked_after)
    check = audit_bundle(bundle, rpc=rpc, only=(2,)).checks[0]
    assert check.passed, check.details

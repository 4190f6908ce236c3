"""`zkrisk audit` on a real update published on anvil: the honest bundle passes every check, and each
tampered part of a bundle fails the check that covers it."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Callable

import ezkl
import pytest
from typer.testing import CliRunner

from oracle.audit import TITLES, audit_bundle
from oracle.bundle import Bundle, RawWindow, sha256_hex
from oracle.cli import app
from published import Published, publish

pytestmark = [pytest.mark.slow, pytest.mark.chain]


@pytest.fixture(scope="module")
def published(accounts, circuit_k1, proved_update, vka_k1, tmp_path_factory) -> Published:
    return publish(accounts, circuit_k1, proved_update, vka_k1, tmp_path_factory.mktemp("audit"))


@pytest.fixture(scope="module")
def rpc(chain, published) -> str:
    return chain.provider.http_uri


def test_honest_bundle_passes_every_check_and_gets_a_report(published, rpc, tmp_path):
    report = tmp_path / "audit.html"
    result = CliRunner().invoke(app, ["audit", str(published.bundle_path), "--rpc", rpc, "--report", str(report)])
    assert result.exit_code == 0, result.output
    for number, title in TITLES.items():
        assert f"PASS {number}. {title}" in result.output
    page = report.read_text()
    assert "ALL CHECKS PASS" in page and page.count("data:image/png;base64,") >= 2


def test_transaction_alone_is_audited_from_the_chain_and_the_repository(published, rpc):
    result = CliRunner().invoke(app, ["audit", "--tx", str(published.receipt.txn_hash), "--rpc", rpc])
    assert result.exit_code == 0, result.output
    assert result.output.count("PASS") == len(TITLES)


def test_an_unreadable_bundle_is_refused_with_exit_code_2(tmp_path):
    (tmp_path / "bad.json").write_text('{"format": "zkrisk-bundle/0"}')
    result = CliRunner().invoke(app, ["audit", str(tmp_path / "bad.json")])
    assert result.exit_code == 2 and "format: expected" in result.output


def test_without_a_chain_the_chain_checks_fail_and_the_exit_code_says_so(published):
    result = CliRunner().invoke(app, ["audit", str(published.bundle_path)])
    assert result.exit_code == 1
    assert "PASS 2. proof verifies off-chain" in result.output
    assert "FAIL 6. on-chain parameters equal the decoded outputs" in result.output


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def _market(bundle: Bundle, **changes) -> Bundle:
    return replace(bundle, markets=[replace(bundle.markets[0], **changes)])


def _raw_close(bundle: Bundle, _: Published) -> Bundle:
    frame = bundle.markets[0].raw.frame.copy()
    frame.iloc[-1, frame.columns.get_loc("close")] *= 1.01
    return _market(bundle, raw=RawWindow(bundle.markets[0].raw.source, frame))


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


def _output_instance(bundle: Bundle, _: Published) -> Bundle:
    """A consistent liar: a higher CR in the instances and in the stated outputs."""
    instances = list(bundle.instances)
    instances[-1] += 1
    tampered = replace(bundle, instances=instances)
    return _market(tampered, wad=tampered.decoded_outputs()[0])


def _other_transaction(bundle: Bundle, published: Published) -> Bundle:
    receipt = published.keeper.transfer(published.keeper, 0)
    return replace(bundle, chain=replace(bundle.chain, tx_hash=str(receipt.txn_hash)))


TAMPERS: dict[str, tuple[Callable[[Bundle, Published], Bundle], set[int]]] = {
    "raw input window": (_raw_close, {1}),
    "commitment": (lambda b, _: _market(b, commitment=b.markets[0].commitment + 1), {1}),
    "proof bytes": (lambda b, _: replace(b, proof=_flip(b.proof, len(b.proof) // 2)), {2, 4}),
    # byte 100 lies in the vk's fixed commitments; the file's tail holds selector data verification never reads
    "verification key": (lambda b, _: replace(b, circuit=replace(b.circuit, vk=_flip(b.circuit.vk, 100))), {2, 3}),
    "settings": (_settings, {2}),
    "SRS": (_other_srs, {2}),
    "chain id": (lambda b, _: replace(b, chain=replace(b.chain, chain_id=b.chain.chain_id + 1)), {1, 3, 4, 6}),
    "VKA": (lambda b, _: replace(b, circuit=replace(b.circuit, vka=[bytes(32), *b.circuit.vka[1:]])), {3}),
    "output instance": (_output_instance, {2, 4, 6}),
    "model card": (lambda b, _: replace(b, card={**b.card, "mapping": {**b.card["mapping"], "cr_max": 3.0}}), {5}),
    "stated error": (lambda b, _: replace(b, stated_error_bps=0.0), {5}),
    "decoded outputs": (lambda b, _: _market(b, wad={**b.markets[0].wad, "cr": b.markets[0].wad["cr"] + 1}), {5, 6}),
    "transaction hash": (_other_transaction, {4, 6}),
    "epoch": (lambda b, _: _market(b, epoch=b.markets[0].epoch + 1), {6}),
}


@pytest.mark.parametrize("part", TAMPERS)
def test_tampered_part_fails_its_check(published, rpc, part):
    tamper, failing = TAMPERS[part]
    # through the file format, as an auditor would receive it
    tampered = Bundle.from_dict(json.loads(tamper(published.bundle, published).to_bytes()))
    result = audit_bundle(tampered, rpc=rpc, only=tuple(sorted(failing)))
    assert [c.number for c in result.checks if c.passed] == [], [(c.number, c.details) for c in result.checks]
    assert not result.passed

"""Cached, checked builds on a temp copy of the K=1 circuit: reuse, rebuild, and tampering refused."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import ezkl
import pytest

from prover.artifacts import sha256_file
from prover.circuit import build_circuit
from prover.errors import EzklVersionError, ManifestMismatchError, SRSError
from prover.srs import ceremony_srs

pytestmark = pytest.mark.slow


@pytest.fixture()
def copy_k1(circuit_k1, tmp_path: Path):
    """(circuits_dir, cache_dir, build) over a private copy of the session's K=1 circuit and keys."""
    relative = Path(circuit_k1.version.model_id) / circuit_k1.version.version / "k1"
    circuits_dir, cache_dir = tmp_path / "circuits", tmp_path / "cache"
    shutil.copytree(circuit_k1.paths.source, circuits_dir / relative)
    shutil.copytree(circuit_k1.paths.cache, cache_dir / relative)
    steps: list[str] = []

    def build(**kwargs):
        steps.clear()
        return build_circuit(circuit_k1.version, 1, circuits_dir=circuits_dir, cache_dir=cache_dir,
                             progress=steps.append, **kwargs)

    return circuits_dir / relative, cache_dir / relative, build, steps


def _flip_last_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_unchanged_inputs_reuse_everything(copy_k1) -> None:
    source, cache, build, steps = copy_k1
    lock_before = (cache / "keys.json").read_text()
    circuit = build()
    assert steps == []
    assert (cache / "keys.json").read_text() == lock_before
    assert circuit.manifest["ezkl_version"] == ezkl.__version__
    assert circuit.manifest["srs"]["provenance"] == "local-dev, insecure"
    assert circuit.manifest["vk_sha256"] is None  # a dev SRS is random per machine: nothing to publish


@pytest.mark.parametrize(("file", "artifact"), [("vk.key", "verification key"), ("pk.key", "proving key"),
                                                 ("model.compiled", "compiled circuit")])
def test_a_tampered_cached_artifact_is_refused_not_rebuilt(copy_k1, file: str, artifact: str) -> None:
    _, cache, build, steps = copy_k1
    _flip_last_byte(cache / file)
    tampered = sha256_file(cache / file)
    with pytest.raises(ManifestMismatchError, match=artifact):
        build()
    assert sha256_file(cache / file) == tampered and not any("keys" in s for s in steps)


def test_a_deleted_proving_key_is_regenerated_identical(copy_k1) -> None:
    _, cache, build, steps = copy_k1
    pk_before = sha256_file(cache / "pk.key")
    (cache / "pk.key").unlink()
    build()
    assert any("generating keys" in s for s in steps)
    assert sha256_file(cache / "pk.key") == pk_before


def test_a_tampered_committed_file_is_refused(copy_k1) -> None:
    source, _, build, _ = copy_k1
    _flip_last_byte(source / "calibration.json")
    with pytest.raises(ManifestMismatchError, match="calibration data"):
        build()


def test_artifacts_of_another_ezkl_version_are_refused(copy_k1) -> None:
    source, _, build, _ = copy_k1
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["ezkl_version"] = "22.2.1"
    (source / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(EzklVersionError, match="22.2.1"):
        build()


def test_edited_settings_rebuild_with_the_same_keys(copy_k1) -> None:
    source, cache, build, steps = copy_k1
    vk_before = sha256_file(cache / "vk.key")
    settings = json.loads((source / "settings.json").read_text())
    (source / "settings.json").write_text(json.dumps(settings, indent=1))  # same circuit, new bytes
    circuit = build()
    assert "compiling circuit" in steps and any("generating keys" in s for s in steps)
    assert circuit.manifest["files"]["settings"] == sha256_file(source / "settings.json")
    assert sha256_file(cache / "vk.key") == vk_before  # keys are a function of the circuit


def test_a_ceremony_srs_pins_srs_and_vk(copy_k1, circuit_k1, tmp_path: Path) -> None:
    source, cache, build, _ = copy_k1
    srs_file = circuit_k1.srs.path
    with pytest.raises(SRSError, match="pinned"):
        ceremony_srs(srs_file, circuit_k1.logrows, "test ceremony", "0" * 64)
    srs = ceremony_srs(srs_file, circuit_k1.logrows, "test ceremony", sha256_file(srs_file))
    pinned = build(srs=srs)
    assert pinned.manifest["srs"] == {"provenance": "ceremony: test ceremony", "logrows": circuit_k1.logrows,
                                      "sha256": srs.sha256}
    assert pinned.manifest["vk_sha256"] == sha256_file(cache / "vk.key")
    other = tmp_path / "other.srs"
    ezkl.gen_srs(str(other), circuit_k1.logrows)
    with pytest.raises(ManifestMismatchError, match="SRS"):
        build(srs=ceremony_srs(other, circuit_k1.logrows, "another ceremony", sha256_file(other)))


def test_pulled_settings_recompile_the_cached_circuit(copy_k1) -> None:
    """Settings and manifest change together (a pull): the cache's compiled circuit is rebuilt too,
    so new keys never come from a circuit compiled with the old settings."""
    source, cache, build, steps = copy_k1
    settings = json.loads((source / "settings.json").read_text())
    (source / "settings.json").write_text(json.dumps(settings, indent=1))
    manifest = json.loads((source / "manifest.json").read_text())
    manifest["files"]["settings"] = sha256_file(source / "settings.json")
    (source / "manifest.json").write_text(json.dumps(manifest))
    build()
    assert "compiling circuit" in steps and any("generating keys" in s for s in steps)
    assert json.loads((cache / "keys.json").read_text())["settings"] == sha256_file(source / "settings.json")

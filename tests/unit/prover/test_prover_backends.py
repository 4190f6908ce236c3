"""Backend selection: CPU by default, GPU only with an ICICLE build of ezkl and a visible CUDA device."""

from __future__ import annotations

import os

import pytest

from prover import backends
from prover.backends import BACKEND_ENV, ICICLE_ENV, EzklBuild, ezkl_build, select_backend
from prover.errors import BackendUnavailableError


def test_cpu_is_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(BACKEND_ENV, raising=False)
    assert select_backend().name == "cpu"


def test_installed_pypi_wheel_is_detected_as_a_cpu_build() -> None:
    build = ezkl_build()
    assert build.version == "23.0.5"
    assert not build.icicle
    assert "no icicle crate" in build.evidence


def test_gpu_is_refused_on_the_installed_cpu_build(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(BACKEND_ENV, "gpu")
    with pytest.raises(BackendUnavailableError, match="CPU build") as refused:
        select_backend()
    assert "23.0.5" in str(refused.value)


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(BackendUnavailableError, match="unknown prover backend"):
        select_backend("tpu")


def test_icicle_build_without_cuda_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "ezkl_build", lambda: EzklBuild("23.0.5", "ezkl", True, "SBOM lists icicle-core"))
    monkeypatch.setattr(backends, "cuda_device_visible", lambda: False)
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        select_backend("gpu")


def test_gpu_backend_enables_icicle_only_while_proving(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(backends, "ezkl_build", lambda: EzklBuild("23.0.5", "ezkl", True, "SBOM lists icicle-core"))
    monkeypatch.setattr(backends, "cuda_device_visible", lambda: True)
    monkeypatch.delenv(ICICLE_ENV, raising=False)
    backend = select_backend("gpu")
    with backend.active():
        assert os.environ[ICICLE_ENV] == "true"
    assert ICICLE_ENV not in os.environ

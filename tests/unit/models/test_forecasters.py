"""The shipped forecaster: ONNX parity, ZK-friendly ops only, explanations, and its input vector."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pandas as pd
import pytest
import torch

from models.data import load_hourly
from models.errors import GapError, InsufficientDataError, MissingValueError
from models.explain import explain
from models.export import calibration_vectors, export_onnx
from models.nets import HARMLP, TemporalConvNet
from models.versions import load_version

SHIPPED = ("har-mlp", "1.0.0")
#: what EZKL proves cheaply: matmul/conv, ReLU, pooling, reshapes and constants; no exp/log/sigmoid
ZK_FRIENDLY = {"Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "Conv", "AveragePool", "Concat", "Slice",
               "Reshape", "Gather", "Constant", "Squeeze", "Unsqueeze", "Transpose", "Shape", "Flatten"}


@pytest.fixture(scope="module")
def version():
    return load_version(*SHIPPED)


@pytest.fixture(scope="module")
def vectors(version):
    return calibration_vectors(version, 64)


@pytest.mark.parametrize("k", [1, 2])
def test_onnx_matches_torch(version, vectors, tmp_path, k):
    path = export_onnx(version, k, tmp_path / "model.onnx")
    session = ort.InferenceSession(str(path))
    batch = vectors[: 32 * k].reshape(32, k, -1)
    for sample in batch:
        got = session.run(None, {f"x{i}": sample[i : i + 1].astype(np.float32) for i in range(k)})[0]
        np.testing.assert_allclose(got, version.predict(sample), atol=1e-6, rtol=0)


@pytest.mark.parametrize("forecaster", [HARMLP(22, 8), TemporalConvNet(22, 4, 5)])
def test_architectures_export_only_zk_friendly_ops(forecaster, tmp_path):
    from models.mapping import MappingConfig
    from models.nets import ProvedGraph, RiskModel

    graph = ProvedGraph(RiskModel(forecaster, MappingConfig()), 2).eval()
    path = tmp_path / "g.onnx"
    torch.onnx.export(graph, tuple(torch.zeros(1, 46) for _ in range(2)), str(path), opset_version=17, dynamo=False)
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ops <= ZK_FRIENDLY, ops - ZK_FRIENDLY


def test_outputs_are_ordered_and_mapped(version, vectors):
    out = version.predict(vectors)
    vol, var99, es99, lt, cr = out.T
    assert np.all(vol > 0) and np.all(var99 > vol) and np.all(es99 > var99)
    lt_ref, cr_ref = version.mapping.apply(var99, es99)
    np.testing.assert_allclose(lt, lt_ref, atol=1e-6)
    np.testing.assert_allclose(cr, cr_ref, atol=1e-6)


def test_card_describes_the_version(version):
    card = version.card
    assert card["parameter_count"] == sum(p.numel() for p in version.model.parameters())
    assert card["input_size"] == 2 + 2 * card["window"] == len(card["input_layout"])
    assert card["data"]["BTC"]["last"] == "2025-06-30" and len(card["data"]["BTC"]["sha256"]) == 64
    for market in ("BTC", "ETH"):
        scores = card["walk_forward"][market]["scores"]
        assert scores["har-mlp"]["qlike"] < min(scores[b]["qlike"] for b in ("ewma", "garch", "gjr", "har"))


def test_input_vector_from_hourly_bars(version):
    frame = version.market_frame("BTC")
    vector = version.input_vector("BTC")
    assert vector[:2].tolist() == [1, (pd.Timestamp("2025-07-01").value // 86_400_000_000_000)]
    tail = frame.iloc[-version.lookback_bars:]  # one close before the window's first day
    np.testing.assert_array_equal(version.input_vector("BTC", frame=tail), vector)
    with pytest.raises(InsufficientDataError):
        version.input_vector("BTC", frame=tail.iloc[1:])
    assert version.bar_interval == pd.Timedelta("1h") and version.validation_rules.max_missing_bars > 0
    earlier = version.input_vector("BTC", end=pd.Timestamp("2025-06-29", tz="UTC"))
    assert earlier[1] == vector[1] - 1 and earlier[2 + 1] == vector[2]


def test_input_vector_rejects_bad_bars(version):
    frame = load_hourly("ETH").loc["2025-05-01":].copy()
    holed = frame.drop(frame.index[100:120])
    with pytest.raises(GapError):
        version.input_vector("ETH", frame=holed)
    frame.loc[frame.index[-5], "close"] = np.nan
    with pytest.raises(MissingValueError):
        version.input_vector("ETH", frame=frame)


def test_explanation_is_complete(version, vectors):
    for vector in (version.input_vector("BTC"), vectors[0], vectors[-1]):
        explanation = explain(version, vector)
        for output in ("lt", "cr"):
            delta = explanation.value[output] - explanation.reference[output]
            # a midpoint rule over the piecewise-linear path: exact up to the kinks it crosses
            assert abs(explanation.completeness_gap(output)) <= 5e-3 * abs(delta) + 1e-6
            assert np.all(explanation.attributions[output][:2] == 0)  # market id and epoch move nothing
            grouped = explanation.grouped(output)
            assert set(grouped) == {f"{k} {h}" for k in ("rvol", "ret") for h in ("1d", "2-5d", "6-22d")}
            assert sum(grouped.values()) == pytest.approx(explanation.attributions[output].sum())


def test_stress_raises_cr_through_realised_vol(version):
    vector = version.input_vector("ETH")
    stressed = vector.copy()
    stressed[2 : 2 + version.window] *= 3  # three times the realised vol on every day
    before, after = version.predict(vector)[0], version.predict(stressed)[0]
    assert after[4] > before[4] and after[3] < before[3]
    explanation = explain(version, stressed)
    top = explanation.top("cr", 3)
    assert all(name.startswith("rvol") for name, _ in top) and top[0][1] > 0

"""The shipped models: ONNX parity of the proved graphs, ZK-friendly ops only, explanations, and the
input vectors from raw bars."""

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
from models.export import calibration_states, calibration_vectors, export_onnx, input_names
from models.spec import LENDING, OPTIONS
from models.versions import OPTIONS_PRODUCTION, PRODUCTION, MarketData, load_version

#: what EZKL proves cheaply: matmul, ReLU, products, reshapes and constants; no exp/log/sigmoid
ZK_FRIENDLY = {"Gemm", "MatMul", "Add", "Sub", "Mul", "Relu", "Concat", "Slice", "Reshape", "Gather", "Constant",
               "Squeeze", "Unsqueeze", "Transpose", "Shape", "Flatten", "Neg"}


@pytest.fixture(scope="module", params=[PRODUCTION, OPTIONS_PRODUCTION], ids=lambda v: v[0])
def version(request):
    return load_version(*request.param)


@pytest.fixture(scope="module")
def vectors(version):
    return calibration_vectors(version, 64)


@pytest.mark.parametrize("k", [1, 2])
def test_onnx_matches_torch_and_uses_zk_friendly_ops_only(version, vectors, tmp_path, k):
    path = export_onnx(version, k, tmp_path / "model.onnx")
    ops = {node.op_type for node in onnx.load(str(path)).graph.node}
    assert ops <= ZK_FRIENDLY, ops - ZK_FRIENDLY
    session = ort.InferenceSession(str(path))
    names = input_names(version, k)
    batch = vectors[: 16 * k].reshape(16, k, -1)
    for sample in batch:
        state = calibration_states(version, sample)
        feeds = {names[i]: sample[i: i + 1].astype(np.float32) for i in range(k)}
        if state is not None:
            feeds["state"] = state.astype(np.float32)
        got = session.run(None, feeds)[0]
        np.testing.assert_allclose(got, version.predict(sample, state), atol=2e-6, rtol=0)


def test_outputs_respect_the_layout(version, vectors):
    state = calibration_states(version, vectors)
    out = version.predict(vectors, state)
    layout = version.layout
    assert out.shape == (len(vectors), layout.width)
    values = dict(zip(layout.names, out.T))
    assert all(np.all(v >= 0) for v in values.values())
    if layout is LENDING:
        assert np.all(values["var99"] > values["vol"]) and np.all(values["es99"] > values["var99"])
        assert np.all(values["lt"] - values["max_ltv"] >= 0.99 * min(p.buffer for p in version.policy.markets.values()))
        np.testing.assert_allclose(out[:, len(layout.names):], state, atol=1e-6)  # the state passes through
    else:
        np.testing.assert_allclose(values["ref_iv"], vectors[:, 2 + 3 * version.window - 1] / 100, rtol=1e-6)


def test_card_describes_the_version(version):
    card = version.card
    assert card["layout"] == version.layout.name and card["outputs"] == list(version.layout.names)
    assert card["parameter_count"] == sum(p.numel() for p in version.model.parameters())
    assert card["input_size"] == len(card["input_layout"]) == version.input_size
    assert card["data"]["BTC"]["last"] == "2025-06-30"
    assert all(len(f["sha256"]) == 64 for f in card["data"]["BTC"]["files"].values())


def test_lending_forecaster_beats_every_baseline_with_a_significant_dm_test():
    card = load_version(*PRODUCTION).card
    for market in ("BTC", "ETH"):
        entry = card["walk_forward"][market]
        scores, dm = entry["scores"], entry["dm_p"]
        best = min(scores[b]["qlike"] for b in ("ewma", "garch", "gjr", "har"))
        assert scores[PRODUCTION[0]]["qlike"] <= 0.92 * best  # at least 8% better out of sample
        assert set(dm) == {"ewma", "garch", "gjr", "har"} and max(dm.values()) < 0.05


def test_input_vector_from_hourly_bars(version):
    vector = version.input_vector("BTC")
    assert vector[:2].tolist() == [1, (pd.Timestamp("2025-07-01").value // 86_400_000_000_000)]
    window = version.window_data("BTC")
    assert len(window.hourly) == version.lookback_bars
    np.testing.assert_array_equal(version.input_vector("BTC", data=window), vector)
    with pytest.raises(InsufficientDataError):
        version.input_vector("BTC", data=MarketData(window.hourly.iloc[1:], window.dvol))
    earlier = version.input_vector("BTC", end=pd.Timestamp("2025-06-29", tz="UTC"))
    assert earlier[1] == vector[1] - 1 and earlier[2 + 1] == vector[2]


def test_input_vector_rejects_bad_bars(version):
    frame = load_hourly("ETH").loc["2025-05-01":].copy()
    dvol = version.market_data("ETH").dvol
    with pytest.raises(GapError):
        version.input_vector("ETH", data=MarketData(frame.drop(frame.index[100:120]), dvol))
    frame.loc[frame.index[-5], "close"] = np.nan
    with pytest.raises(MissingValueError):
        version.input_vector("ETH", data=MarketData(frame, dvol))


def test_explanation_is_complete(version, vectors):
    for vector in (version.input_vector("BTC"), vectors[0], vectors[-1]):
        state = calibration_states(version, vector[None, :])
        explanation = explain(version, vector, None if state is None else state[0])
        for output in version.layout.names:
            delta = explanation.value[output] - explanation.reference[output]
            # a midpoint rule over the piecewise-linear path: exact up to the kinks it crosses
            assert abs(explanation.completeness_gap(output)) <= 5e-3 * abs(delta) + 2e-4
            assert np.all(explanation.attributions[output][:2] == 0)  # market id and epoch move nothing
            grouped = explanation.grouped(output)
            assert sum(grouped.values()) == pytest.approx(explanation.attributions[output].sum())


def test_stress_tightens_the_lending_policy_through_range_vol():
    version = load_version(*PRODUCTION)
    vector = version.input_vector("ETH")
    stressed = vector.copy()
    stressed[2: 2 + version.window] *= 3  # three times the range vol on every day
    state = np.array([[0.75, 0.80]])
    before, after = version.predict(vector, state)[0], version.predict(stressed, state)[0]
    names = LENDING.index
    assert after[names["es99"]] > before[names["es99"]]
    assert after[names["max_ltv"]] <= before[names["max_ltv"]] and after[names["lt"]] <= before[names["lt"]]
    top = explain(version, stressed, state[0]).top("es99", 3)
    assert all(name.startswith("pkvol") for name, _ in top) and top[0][1] > 0


def test_options_shocks_follow_implied_vol():
    version = load_version(*OPTIONS_PRODUCTION)
    vector = version.input_vector("BTC")
    w = version.window
    calm_iv = vector.copy()
    wild = vector.copy()
    wild[2 + 3 * w: 2 + 4 * w] *= 3  # DVOL moving three times as much every day
    base, shocked = version.predict(calm_iv)[0], version.predict(wild)[0]
    index = OPTIONS.index
    assert shocked[index["iv_up"]] > base[index["iv_up"]] and shocked[index["iv_down"]] >= base[index["iv_down"]]
    assert shocked[index["ref_iv"]] == pytest.approx(base[index["ref_iv"]])

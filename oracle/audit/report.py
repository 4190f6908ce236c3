"""The audit as a self-contained HTML page: the checks, the update's numbers and three plots (PNG, base64).

Plots: parameter history of each market from the oracle's events (the audited epoch marked), the model's
volatility and VaR forecasts against realised next-day moves over the bundled history, and the
update's risk contributions (the explanation published in the bundle).
"""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from models.errors import ModelError
from models.features import epoch_start
from models.spec import WAD, Kind
from models.versions import load_version
from oracle.audit.chain import ChainView
from oracle.audit.checks import AuditReport
from oracle.bundle import BUNDLED_SOURCE, Bundle, MarketRecord

FORECAST_DAYS = 90


def _png(figure: Figure) -> str:
    # Figure without pyplot: no global state and no display backend on servers
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=96, bbox_inches="tight")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def history_plot(bundle: Bundle, chain: ChainView | None) -> str:
    """Each market's policy outputs (all outputs for a layout of forecasts) as the oracle stored them."""
    layout = bundle.layout
    names = [o.name for o in layout.outputs if o.kind is Kind.POLICY] or list(layout.names[:2])
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axis = figure.subplots()
    for market in bundle.markets:
        points = chain.history(market.market_id, layout.layout_id) if chain is not None else []
        if not points:  # no chain: the audited update alone
            points = [{"epoch": market.epoch, "values": [market.wad[n] for n in layout.names]}]
        epochs = [epoch_start(p["epoch"]).date() for p in points]
        for name, style in zip(names, ("-o", "--s", ":^", "-.v")):
            axis.plot(epochs, [p["values"][layout.index[name]] / WAD for p in points], style,
                      label=f"{market.symbol} {name}")
        axis.axvline(epoch_start(market.epoch).date(), color="grey", linewidth=0.8)
    axis.set_title("Parameter history on chain (audited epoch marked)")
    axis.set_ylabel("fraction")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)


def forecast_plot(bundle: Bundle, market: MarketRecord) -> str | None:
    """Float-model vol and VaR forecasts over the bundled history against the next day's move, VaR
    breaches marked (lending layout; the policy state does not enter the forecasts)."""
    if market.raw.source.get("kind") != BUNDLED_SOURCE["kind"] or not {"vol", "var99"} <= set(bundle.layout.names):
        return None
    try:
        version = load_version(bundle.model_id, bundle.model_version)
        data = version.market_data(market.symbol)
    except ModelError:
        return None
    close = data.hourly["close"].resample("1D").last().dropna()
    ends = close.index[-FORECAST_DAYS - 1:-1]
    try:
        vectors = np.stack([version.input_vector(market.symbol, end=t, data=version.window_data(market.symbol, t, data))
                            for t in ends])
    except ModelError:  # a gap inside the plotted history
        return None
    state = None if not bundle.layout.state else np.asarray([bundle.layout.initial_state] * len(ends))
    forecast = version.predict(vectors, state)
    vol, var = forecast[:, bundle.layout.index["vol"]], forecast[:, bundle.layout.index["var99"]]
    following = np.log(close).diff().shift(-1).loc[ends].to_numpy()
    figure = Figure(figsize=(8, 3.2), layout="constrained")
    axis = figure.subplots()
    dates = np.asarray([t.date() for t in ends])
    axis.plot(dates, np.abs(following), ".", color="grey", markersize=3, label="realised |next-day return|")
    axis.plot(dates, vol, label="vol forecast")
    axis.plot(dates, var, label="VaR 99% forecast (loss)")
    breaches = -following > var  # VaR bounds the loss: only falls breach it
    axis.plot(dates[breaches], -following[breaches], "x", color="red",
              label=f"VaR breaches ({int(breaches.sum())}/{len(dates)}, 1% expected)")
    axis.set_title(f"{market.symbol}: forecast vs realised, last {FORECAST_DAYS} days of bundled data")
    axis.legend(fontsize=8)
    figure.autofmt_xdate()
    return _png(figure)


def contribution_series(explanation: dict[str, Any], output: str) -> tuple[list[str], np.ndarray]:
    """(labels, attributions) of one output: grouped by input kind and horizon when the explanation
    groups them (fewer, readable bars), else per input feature."""
    grouped = explanation.get("grouped", {}).get(output)
    if grouped:
        return list(grouped), np.asarray(list(grouped.values()), dtype=float)
    return list(explanation["features"]), np.asarray(explanation["attributions"][output], dtype=float)


def contributions_plot(market: MarketRecord, top: int = 10) -> str | None:
    explanation = market.explanation
    if not explanation or "attributions" not in explanation:
        return None
    outputs = list(explanation["attributions"])
    figure = Figure(figsize=(4 * len(outputs), 3.4), layout="constrained")
    axes = figure.subplots(1, len(outputs), squeeze=False)
    for axis, output in zip(axes[0], outputs):
        features, values = contribution_series(explanation, output)
        order = np.argsort(-np.abs(values))[:top][::-1]
        axis.barh([features[i] for i in order], values[order],
                  color=["#c0392b" if v > 0 else "#2874a6" for v in values[order]])
        axis.set_title(f"{market.symbol} {output.upper()} contributions")
    return _png(figure)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def write_html(report: AuditReport, bundle: Bundle, chain: ChainView | None, path: Path) -> Path:
    checks = "".join(
        f"<li class='{'pass' if c.passed else 'fail'}'><b>{'PASS' if c.passed else 'FAIL'} {c.number}. "
        f"{html.escape(c.title)}</b><br>{'<br>'.join(html.escape(d) for d in c.details)}</li>" for c in report.checks)
    names = bundle.layout.names
    outputs = _table([(m.symbol, m.epoch, *(f"{m.wad[n] / WAD:.6f}" for n in names)) for m in bundle.markets],
                     ("market", "epoch", *names))
    images = [history_plot(bundle, chain)]
    for market in bundle.markets:
        images += [img for img in (forecast_plot(bundle, market), contributions_plot(market)) if img]
    figures = "".join(f"<img src='{src}'>" for src in images)
    where = ("not published on chain" if bundle.chain is None else
             f"chain {bundle.chain.chain_id}, oracle {bundle.chain.contracts.get('RiskOracle')}, "
             f"tx {bundle.chain.tx_hash}")
    verdict = "ALL CHECKS PASS" if report.passed else "AUDIT FAILED"
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>zkrisk audit {bundle.sha256[:12]}</title>
<style>body{{font-family:sans-serif;max-width:60em;margin:2em auto}} li{{margin:.5em 0}}
.pass b{{color:#1e8449}} .fail b{{color:#c0392b}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:.2em .6em;text-align:right}} img{{max-width:100%;display:block;margin:1em 0}}</style>
</head><body><h1>zkrisk audit — {verdict}</h1>
<p>bundle sha256 <code>{bundle.sha256}</code><br>{html.escape(bundle.kind)} of model
{html.escape(bundle.model_id)}@{html.escape(bundle.model_version)}, {html.escape(where)}<br>
SRS: {html.escape(bundle.circuit.srs.provenance)}; generated {pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")}</p>
<h2>Checks</h2><ol>{checks}</ol><h2>Proved outputs</h2>{outputs}<h2>Plots</h2>{figures}</body></html>"""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path

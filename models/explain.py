"""Per-update risk-contribution breakdown: integrated gradients of every output of the version's
layout (forecasts and policy values) over the input features.

For an input x and a reference x′, the attribution of feature i to output f is

    IG_i = (x_i − x′_i) · ∫₀¹ ∂f/∂x_i (x′ + a (x − x′)) da,     Σ_i IG_i = f(x) − f(x′)  (completeness).

Reference: the model card's `explanation_baseline`, the per-feature median of all training windows,
i.e. a typical market day. A zero input would be a market with no volatility at all: the volatility
floor and the LT/CR clamps saturate there, so every attribution would explain the distance from an
impossible state instead of answering "which inputs moved the parameters away from their usual
level". The meta fields (market id, epoch) are held at their own values: the network ignores them.
The policy state (the previous max LTV and LT the update steps from) is held at the update's own:
attributions say which market inputs moved the values, given where the policy stood.
The integral is a midpoint rule over `steps` points in float64; the model is piecewise linear
(ReLU), so the error is bounded by the few kinks the path crosses and shrinks as 1/steps.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch

from models.errors import ModelVersionError
from models.spec import META_FIELDS
from models.typing import Float64Array
from models.versions import ModelVersion


@dataclass(frozen=True)
class Explanation:
    """Attributions per explained output over the input vector (meta fields get 0)."""

    features: tuple[str, ...]
    value: dict[str, float]
    reference: dict[str, float]
    attributions: dict[str, Float64Array]

    @property
    def window(self) -> int:
        return max(int(name.partition("_t-")[2]) + 1 for name in self.features if "_t-" in name)

    def completeness_gap(self, output: str) -> float:
        return float(self.attributions[output].sum() - (self.value[output] - self.reference[output]))

    def top(self, output: str, n: int = 5) -> list[tuple[str, float]]:
        order = np.argsort(-np.abs(self.attributions[output]))[:n]
        return [(self.features[i], float(self.attributions[output][i])) for i in order]

    def grouped(self, output: str) -> dict[str, float]:
        """Attributions summed by input kind and horizon, e.g. "pkvol 1d", "pkvol 2-5d", "ret 6-22d"
        (HAR's daily/weekly/monthly split; lags counted back from the window's last day), calendar
        flags by name."""
        groups: dict[str, float] = {}
        for name, value in zip(self.features, self.attributions[output]):
            kind, _, lag = name.partition("_t-")
            if name in META_FIELDS:
                continue
            if not lag:  # a calendar flag
                groups[name] = groups.get(name, 0.0) + float(value)
                continue
            days = int(lag) + 1
            horizon = "1d" if days == 1 else "2-5d" if days <= 5 else f"6-{self.window}d"
            groups[f"{kind} {horizon}"] = groups.get(f"{kind} {horizon}", 0.0) + float(value)
        return groups

    def to_dict(self) -> dict[str, object]:
        return {"features": list(self.features), "value": self.value, "reference": self.reference,
                "attributions": {k: v.tolist() for k, v in self.attributions.items()},
                "grouped": {k: self.grouped(k) for k in self.attributions}}


def integrated_gradients(model: torch.nn.Module, x: Float64Array, reference: Float64Array,
                         outputs: tuple[int, ...], steps: int = 1024) -> Float64Array:
    """IG of `model` ([N, F] → [N, O], float64) for the given output columns: [len(outputs), F]."""
    alphas = (np.arange(steps) + 0.5) / steps
    path = torch.as_tensor(reference[None, :] + alphas[:, None] * (x - reference)[None, :], dtype=torch.float64)
    path.requires_grad_(True)
    result = model(path)
    grads = [torch.autograd.grad(result[:, j].sum(), path, retain_graph=True)[0].mean(dim=0).numpy()
             for j in outputs]
    return np.stack(grads) * (x - reference)[None, :]


def explain(version: ModelVersion, vector: Float64Array, state: Float64Array | None = None,
            steps: int = 1024) -> Explanation:
    """Which inputs of one update moved each output away from the typical-day reference, and by how
    much; `state` is the policy state the update stepped from (layouts with state need it)."""
    if "explanation_baseline" not in version.card:
        raise ModelVersionError(f"{version.model_id}@{version.version} has no explanation_baseline in its card")
    layout = version.layout
    if bool(layout.state) != (state is not None):
        raise ModelVersionError(f"layout {layout.name}: pass the policy state exactly when it has one")
    meta = len(META_FIELDS)
    vector = np.asarray(vector, dtype=np.float64)
    reference = np.concatenate([vector[:meta], np.asarray(version.card["explanation_baseline"], dtype=np.float64)])
    model = copy.deepcopy(version.model).double().eval()
    held = None if state is None else torch.as_tensor(np.asarray(state, dtype=np.float64).reshape(1, -1))
    market = torch.tensor([[float(vector[META_FIELDS.index("market_id")])]], dtype=torch.float64)

    def network(batch: torch.Tensor) -> torch.Tensor:
        features = batch[:, meta:]  # the graph without its meta fields, the state held where it stood
        if held is None:
            return model(features)
        return model(features, held.expand(len(batch), -1), market.expand(len(batch), -1))

    columns = tuple(range(len(layout.names)))
    ig = integrated_gradients(network, vector, reference, columns, steps)
    with torch.no_grad():
        both = network(torch.as_tensor(np.stack([vector, reference]), dtype=torch.float64)).numpy()
    names = tuple(version.card.get("input_layout", [f"x{i}" for i in range(len(vector))]))
    return Explanation(names, {n: float(both[0, c]) for n, c in zip(layout.names, columns)},
                       {n: float(both[1, c]) for n, c in zip(layout.names, columns)},
                       {n: ig[i] for i, n in enumerate(layout.names)})

"""Compact, ZK-friendly risk forecasters (Linear and ReLU only) and the graphs that are proved.

A forecaster maps a market's input features (see `models.features.FeatureSet`, percent units) to
one-day forecasts in fractions, [N, 3] = (vol, var99, es99), with vol > 0 and es99 ≥ var99 ≥ 0 by
construction. A *model* puts a head on it that produces its layout's outputs (`models.spec`):
`LendingModel` adds the proved parameter policy (`models.policy`), `OptionsModel` the margin shocks.
`ProvedGraph` is what gets exported: K window tensors (one per market, each hashed separately so each
market has its own commitment), plus the policy-state tensor when the layout has one → drop the
meta fields → model → [K, outputs + state], the state passed through for the oracle to check.
"""

from __future__ import annotations

import torch

from models.policy import MarketPolicies, PolicyLayer
from models.spec import META_FIELDS, Layout

PERCENT = 0.01
#: Volatility floor (percent per day) added after the last ReLU: a zero variance forecast would make
#: the QLIKE loss and VaR meaningless; no day in the data comes close (min realised vol 0.31%).
VOL_FLOOR = 0.2


class TailHead(torch.nn.Module):
    """vol (percent) → (vol, var99, es99) in fractions: VaR and ES as fixed multiples of vol.

    The multipliers are fitted after the volatility network by minimising the Fissler–Ziegel FZ0 loss
    (a strictly consistent joint score for VaR and ES), i.e. filtered historical simulation with a
    proper score. A scale family keeps the tails robust: only two numbers come from the rare tail.
    """

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("multipliers", torch.tensor([1.0, 2.33, 2.67]))

    def forward(self, vol: torch.Tensor) -> torch.Tensor:
        return PERCENT * vol * self.multipliers


#: Days per year of DVOL's annualisation: DVOL / sqrt(365) is the implied vol of one day.
IMPLIED_DAYS = 365.0


def har_aggregation(window: int, flags: int, implied: bool = False) -> torch.Tensor:
    """Fixed weights over [vol W, ret W, (dvol W, dvol_ret W,) flags]: daily, weekly and monthly mean of
    the volatility channel, last and weekly mean of the return channel, with `implied` the last and
    weekly mean of DVOL as one-day implied vol (percent), then each calendar flag as it is."""
    channels = 4 if implied else 2
    rows = 5 + (2 if implied else 0) + flags
    weights = torch.zeros(rows, channels * window + flags)
    weights[0, window - 1] = 1.0
    weights[1, window - 5:window] = 1.0 / 5
    weights[2, :window] = 1.0 / window
    weights[3, 2 * window - 1] = 1.0
    weights[4, 2 * window - 5:2 * window] = 1.0 / 5
    if implied:
        daily = 1.0 / IMPLIED_DAYS ** 0.5
        weights[5, 3 * window - 1] = daily
        weights[6, 3 * window - 5:3 * window] = daily / 5
    for f in range(flags):
        weights[rows - flags + f, channels * window + f] = 1.0
    return weights


class HARMLP(torch.nn.Module):
    """HAR-style features (fixed averages, in the graph) → linear HAR term + small ReLU MLP → vol.

    Input [N, 2W + flags]: a volatility channel (W days), the daily return channel (W days), calendar
    flags. With `downside`, returns enter as their losses relu(−r): a rebound after a crash day then
    reads as no risk, not as negative risk, so the forecast does not fall the day after the rebound
    (round 1 read the signed return: −15% then +11% took BTC's vol forecast 7.9% → 4.65%).
    """

    def __init__(self, window: int = 22, hidden: int = 8, downside: bool = False, flags: int = 0,
                 implied: bool = False) -> None:
        super().__init__()
        self.window, self.hidden, self.downside, self.flags, self.implied = window, hidden, downside, flags, implied
        self.register_buffer("aggregation", har_aggregation(window, flags, implied))
        width = self.aggregation.shape[0]
        self.linear = torch.nn.Linear(width, 1)
        self.mlp = torch.nn.Sequential(torch.nn.Linear(width, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1))
        self.tails = TailHead()

    def volatility(self, features: torch.Tensor, calendar: bool = True) -> torch.Tensor:
        """Vol forecast in percent; `calendar=False` sets the calendar flags to 0 (a weekday's vol)."""
        w, channels = self.window, 4 if self.implied else 2
        vol, ret = features[:, :w], features[:, w:2 * w]
        implied, flags = features[:, 2 * w:channels * w], features[:, channels * w:]
        if self.downside:
            ret = torch.relu(-ret)
        if not calendar:
            flags = flags * 0.0
        har = torch.cat([vol, ret, implied, flags], dim=1) @ self.aggregation.T
        return VOL_FLOOR + torch.relu(self.linear(har) + self.mlp(har))

    def forward(self, features: torch.Tensor, calendar: bool = True) -> torch.Tensor:
        return self.tails(self.volatility(features, calendar))


#: Architecture name in a model card → class.
ARCHITECTURES: dict[str, type[torch.nn.Module]] = {"HARMLP": HARMLP}


class LendingModel(torch.nn.Module):
    """Forecaster + proved parameter policy: ([N, F] features, [N, 2] state, [N, 1] market ids) → [N, 5]
    in the lending layout's order (vol, var99, es99, max_ltv, lt).

    The forecasts are the next day's (calendar flags included); the policy reads the tail forecast of
    a weekday (flags off), so max LTV does not loosen every Saturday and tighten every Monday.
    """

    def __init__(self, forecaster: torch.nn.Module, policies: MarketPolicies) -> None:
        super().__init__()
        self.forecaster = forecaster
        self.policy = PolicyLayer(policies)

    def forward(self, features: torch.Tensor, state: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        forecasts = self.forecaster(features)
        risk = self.forecaster(features, calendar=False)
        return torch.cat([forecasts, self.policy(risk, state, ids)], dim=1)


class OptionsModel(torch.nn.Module):
    """Margin scenarios from spot and implied vol: [N, F] features ([pkvol, ret, dvol, dvol_ret] × W, flags)
    → [N, 5] in the options layout's order (spot_down, spot_up, iv_up, iv_down, ref_iv), fractions.

    spot_down/spot_up = m_down/m_up × σ, σ the one-day vol forecast (DVOL among its inputs), the
    multipliers one-day quantiles of the standardised spot move down and up (filtered historical
    simulation). iv_up/iv_down = relu(a + b · v) with v the window's mean |daily DVOL log change|
    (vol of vol), a and b linear quantile regressions of the next day's relative DVOL rise and fall.
    ref_iv is the committed DVOL close, passed through the proved graph.
    """

    def __init__(self, forecaster: torch.nn.Module) -> None:
        super().__init__()
        self.forecaster = forecaster
        w = forecaster.window
        #: [m_down, m_up, a_up, b_up, a_down, b_down], fitted after the vol network
        self.register_buffer("shocks", torch.tensor([2.6, 2.6, 5.0, 1.0, 4.0, 1.0]))
        self.register_buffer("mean_abs", torch.full((w, 1), 1.0 / w))

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        w = self.forecaster.window
        dvol, dvol_ret = features[:, 2 * w:3 * w], features[:, 3 * w:4 * w]
        vol = self.forecaster.volatility(features)
        volvol = (torch.relu(dvol_ret) + torch.relu(-dvol_ret)) @ self.mean_abs
        m = self.shocks
        spot = PERCENT * vol * m[0:2]
        iv_up = PERCENT * torch.relu(m[2] + m[3] * volvol)
        iv_down = PERCENT * torch.relu(m[4] + m[5] * volvol)
        return torch.cat([spot, iv_up, iv_down, PERCENT * dvol[:, w - 1:w]], dim=1)


class ProvedGraph(torch.nn.Module):
    """K per-market windows [1, meta + F] (and the state [K, S] when the layout has one) → [K, N + S]."""

    def __init__(self, model: torch.nn.Module, k: int, layout: Layout) -> None:
        super().__init__()
        self.model, self.k, self.layout = model, k, layout

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        windows = torch.cat(inputs[:self.k], dim=0)
        features = windows[:, len(META_FIELDS):]
        if not self.layout.state:
            return self.model(features)
        state, ids = inputs[self.k], windows[:, META_FIELDS.index("market_id"):][:, :1]
        return torch.cat([self.model(features, state, ids), state], dim=1)

"""Protocol-outcome backtest of lending parameter policies (`zkrisk backtest --protocol`).

spec → run → result, as in `arch`: a `SimulationConfig` (cohorts, liquidation and slippage rules) and
`MarketRules` (how the lending market reads the oracle), policies (`LendingPolicy`), then
`chain.replay` (daily updates through the on-chain guards) and `simulation.simulate` (the lending
market on hourly bars) per policy, gathered by `report.run_market` / `report.protocol_backtest` into
results whose statistics are computed when asked. docs/protocol-backtest.md has the assumptions.
"""

from models.protocol.chain import MarketRules, Replay, replay
from models.protocol.guards import ROUND1_GUARDS, Guard, LayoutGuards, NoGuards, Round1Guards, lending_guards
from models.protocol.policies import AAVE_V3, Guarded, LendingPolicy, Listing, MappingPolicy, StaticPolicy, Stored
from models.protocol.report import ProtocolBacktest, protocol_backtest, run_market
from models.protocol.simulation import Simulation, SimulationConfig, simulate

__all__ = ["AAVE_V3", "Guard", "Guarded", "LayoutGuards", "LendingPolicy", "Listing", "MappingPolicy", "MarketRules",
           "NoGuards", "ProtocolBacktest", "ROUND1_GUARDS", "Replay", "Round1Guards", "Simulation", "SimulationConfig",
           "StaticPolicy", "Stored", "lending_guards", "protocol_backtest", "replay", "run_market", "simulate"]

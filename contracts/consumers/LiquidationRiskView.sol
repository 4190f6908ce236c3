// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {ILendingMarket} from "../interfaces/ILendingMarket.sol";
import {IRiskParameterSource} from "../interfaces/IRiskParameterSource.sol";
import {LiquidationProbability} from "../libraries/LiquidationProbability.sol";
import {RiskLayouts} from "../libraries/RiskLayouts.sol";

/// @title LiquidationRiskView
/// @notice Read-only companion of a LendingMarket (as a protocol's UI data provider is): the probability
///         that a position becomes liquidatable within a horizon, from the oracle's latest proved one-day
///         volatility forecast and the market's liquidation threshold in force
///         (LiquidationProbability; models/liquidation.py is the reference, docs/policy.md).
contract LiquidationRiskView {
    ILendingMarket public immutable MARKET;
    IRiskParameterSource public immutable ORACLE;
    uint64 public immutable MARKET_ID;
    /// @notice The model card's liquidation calibration: vol scale s and one-day degrees of freedom nu (WAD).
    uint256 public immutable VOL_SCALE;
    uint256 public immutable NU;
    /// @notice Longest horizon served: the model's horizon scaling is documented up to a week.
    uint256 public constant MAX_HORIZON_HOURS = 168;

    error HorizonOutOfRange(uint256 horizonHours);
    error NoFreshForecast(uint64 marketId);

    constructor(ILendingMarket market, IRiskParameterSource oracle, uint64 marketId, uint256 volScale, uint256 nu) {
        // validated once here, so reads never revert on the calibration
        LiquidationProbability.firstPassage(2e18, 1e16, 24, volScale, nu);
        MARKET = market;
        ORACLE = oracle;
        MARKET_ID = marketId;
        VOL_SCALE = volScale;
        NU = nu;
    }

    /// @notice P(`account`'s health factor falls below 1 within `horizonHours`), WAD, and the health
    ///         factor it starts from (WAD; type(uint256).max without debt).
    /// @dev Reverts with NoFreshForecast when the oracle has no fresh lending values for the market: a
    ///      probability from a stale forecast would look precise and not be.
    function liquidationProbability(address account, uint256 horizonHours)
        external
        view
        returns (uint256 probability, uint256 healthFactor)
    {
        if (horizonHours == 0 || horizonHours > MAX_HORIZON_HOURS) revert HorizonOutOfRange(horizonHours);
        if (ORACLE.isStale(MARKET_ID, RiskLayouts.LENDING)) revert NoFreshForecast(MARKET_ID);
        (uint256[] memory values,,,) = ORACLE.getParameters(MARKET_ID, RiskLayouts.LENDING);
        uint256 debt = MARKET.positionOf(account).debt;
        if (debt == 0) return (0, type(uint256).max);
        (uint256 lt,) = MARKET.liquidationParameters();
        healthFactor = Math.mulDiv(MARKET.collateralValue(account), lt, debt);
        probability = LiquidationProbability.firstPassage(
            healthFactor, values[RiskLayouts.LENDING_VOL], horizonHours, VOL_SCALE, NU
        );
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SD59x18, ln} from "@prb/math/src/SD59x18.sol";
import {BlackScholes} from "./BlackScholes.sol";

/// @title LiquidationProbability
/// @notice The first-passage probability that a position's health factor falls below 1 within a horizon,
///         from the published one-day volatility forecast: the on-chain form of models/liquidation.py.
///
///             P = min(1, 2 F(-ln(h) / sigma_T)),   sigma_T = s * vol * sqrt(T / 24 h)
///
///         (reflection principle for a driftless, symmetric path), F the unit-variance Student-t CDF with
///         the card's nu at every horizon (so P never falls as the horizon grows), s and nu from the card.
///         The t CDF uses Wallace's normal transform (D. L. Wallace, "Bounds on normal approximations to
///         Student's and the chi-square distributions", Ann. Math. Statist. 30, 1959):
///             F_nu(-y) ~ N(-z),   z = (8 nu + 1) / (8 nu + 3) sqrt(nu ln(1 + y^2 / nu)),
///         whose absolute error against scipy's t CDF is below 5e-4 for nu >= 4 (1.6e-4 at the shipped
///         nu of 7.6), so P is within 1e-3 of the Python model (tests/contracts/test_liquidation_view.py).
/// @dev All values WAD (1e18 = 1.0). nu >= 4 (the model's smallest, models.liquidation.MIN_NU).
library LiquidationProbability {
    uint256 internal constant WAD = 1e18;
    uint256 internal constant HOURS_PER_DAY = 24;
    uint256 internal constant MIN_NU = 4e18;

    error InvalidTailParameters(uint256 volScale, uint256 nu);

    /// @notice P(health factor < 1 within `horizonHours`), WAD.
    /// @param healthFactor Collateral value x LT / debt, WAD; at or below 1 the position is liquidatable now.
    /// @param vol Published one-day volatility forecast (fraction), WAD.
    /// @param volScale The card's calibrated vol scale s, WAD.
    /// @param nu The card's one-day degrees of freedom, WAD (>= 4).
    function firstPassage(uint256 healthFactor, uint256 vol, uint256 horizonHours, uint256 volScale, uint256 nu)
        internal
        pure
        returns (uint256)
    {
        if (nu < MIN_NU || volScale == 0) revert InvalidTailParameters(volScale, nu);
        if (healthFactor <= WAD) return WAD;
        uint256 sigma = volScale * vol / WAD * BlackScholes.sqrtWad(horizonHours * WAD / HOURS_PER_DAY) / WAD;
        if (sigma == 0 || horizonHours == 0) return 0;
        uint256 barrier = uint256(ln(SD59x18.wrap(int256(healthFactor))).unwrap());
        // the unit-variance t: y = barrier / sigma_T * sqrt(nu / (nu - 2))
        uint256 y = barrier * WAD / sigma * BlackScholes.sqrtWad(nu * WAD / (nu - 2 * WAD)) / WAD;
        if (y > 1e9 * WAD) return 0; // far beyond any tail the CDF resolves; also keeps y^2 in range
        uint256 logTerm = uint256(ln(SD59x18.wrap(int256(WAD + y * y / nu))).unwrap());
        uint256 z = (8 * nu + WAD) * BlackScholes.sqrtWad(nu * logTerm / WAD) / (8 * nu + 3 * WAD);
        uint256 p = 2 * BlackScholes.normCdf(-int256(z));
        return p > WAD ? WAD : p;
    }
}

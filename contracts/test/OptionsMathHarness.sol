// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IOptionsMarginEngine} from "../interfaces/IOptionsMarginEngine.sol";
import {BlackScholes} from "../libraries/BlackScholes.sol";
import {PortfolioMargin} from "../libraries/PortfolioMargin.sol";

/// @notice Test-only: exposes BlackScholes and PortfolioMargin so tests compare them with scipy and with
///         models/options.py, and read the grid constants the Python reference mirrors.
contract OptionsMathHarness {
    function normCdf(int256 x) external pure returns (uint256) {
        return BlackScholes.normCdf(x);
    }

    function normPdf(int256 x) external pure returns (uint256) {
        return BlackScholes.normPdf(x);
    }

    function callPrice(uint256 spot, uint256 strike, uint256 vol, uint256 tau) external pure returns (uint256) {
        return BlackScholes.callPrice(spot, strike, vol, tau);
    }

    function putPrice(uint256 spot, uint256 strike, uint256 vol, uint256 tau) external pure returns (uint256) {
        return BlackScholes.putPrice(spot, strike, vol, tau);
    }

    function callDelta(uint256 spot, uint256 strike, uint256 vol, uint256 tau) external pure returns (uint256) {
        return BlackScholes.callDelta(spot, strike, vol, tau);
    }

    function putDelta(uint256 spot, uint256 strike, uint256 vol, uint256 tau) external pure returns (int256) {
        return BlackScholes.putDelta(spot, strike, vol, tau);
    }

    function vega(uint256 spot, uint256 strike, uint256 vol, uint256 tau) external pure returns (uint256) {
        return BlackScholes.vega(spot, strike, vol, tau);
    }

    /// @notice Call, put, call delta and vega of many inputs in one call (differential tests over wide grids).
    function batch(uint256[] calldata spots, uint256[] calldata strikes, uint256[] calldata vols, uint256[] calldata taus)
        external
        pure
        returns (uint256[] memory calls, uint256[] memory puts, uint256[] memory deltas, uint256[] memory vegas)
    {
        uint256 n = spots.length;
        calls = new uint256[](n);
        puts = new uint256[](n);
        deltas = new uint256[](n);
        vegas = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            calls[i] = BlackScholes.callPrice(spots[i], strikes[i], vols[i], taus[i]);
            puts[i] = BlackScholes.putPrice(spots[i], strikes[i], vols[i], taus[i]);
            deltas[i] = BlackScholes.callDelta(spots[i], strikes[i], vols[i], taus[i]);
            vegas[i] = BlackScholes.vega(spots[i], strikes[i], vols[i], taus[i]);
        }
    }

    function normCdfBatch(int256[] calldata xs) external pure returns (uint256[] memory out) {
        out = new uint256[](xs.length);
        for (uint256 i; i < xs.length; ++i) {
            out[i] = BlackScholes.normCdf(xs[i]);
        }
    }

    function yearsToExpiry(uint256 timestamp, uint256 expiry) external pure returns (uint256) {
        return BlackScholes.yearsToExpiry(timestamp, expiry);
    }

    function volMultiplier(uint256 secondsToExpiry) external pure returns (uint256) {
        return PortfolioMargin.volMultiplier(secondsToExpiry);
    }

    function scenarioVols(IOptionsMarginEngine.Shocks memory s, uint256 secondsToExpiry)
        external
        pure
        returns (uint256[4] memory)
    {
        return PortfolioMargin.scenarioVols(s, secondsToExpiry);
    }

    function isSane(IOptionsMarginEngine.Shocks memory s) external pure returns (bool) {
        return PortfolioMargin.isSane(s);
    }

    function staticShocks(uint256 storedRefIv) external pure returns (IOptionsMarginEngine.Shocks memory) {
        return PortfolioMargin.staticShocks(storedRefIv);
    }

    function scenarioLosses(
        PortfolioMargin.Leg[] memory legs,
        uint256 spot,
        IOptionsMarginEngine.Shocks memory s,
        uint256 timestamp,
        bool withInitial
    ) external pure returns (int256[28] memory losses, int256 markValue, uint256[] memory marks) {
        return PortfolioMargin.scenarioLosses(legs, spot, s, timestamp, withInitial);
    }

    function marketMargin(
        PortfolioMargin.Leg[] memory legs,
        uint256 spot,
        IOptionsMarginEngine.Shocks memory s,
        uint256 timestamp,
        bool withInitial
    ) external pure returns (PortfolioMargin.Result memory) {
        return PortfolioMargin.marketMargin(legs, spot, s, timestamp, withInitial);
    }

    /// @notice The IM and MM scenario sets (bit s = level * 7 + point).
    function scenarioMasks() external pure returns (uint256 initial, uint256 maintenance) {
        return (PortfolioMargin.IM_GRID, PortfolioMargin.MM_GRID);
    }

    /// @notice The grid constants models/options.py mirrors, in one call (WAD; horizon, tenor and floor in seconds).
    function gridConstants() external pure returns (uint256[21] memory c) {
        c = [
            PortfolioMargin.MARGIN_HORIZON,
            PortfolioMargin.INNER_SPOT_FRACTION,
            PortfolioMargin.SHORT_CONTINGENCY,
            PortfolioMargin.MM_CONTINGENCY_FLOOR,
            PortfolioMargin.REFERENCE_TENOR,
            PortfolioMargin.DTE_FLOOR,
            PortfolioMargin.SHORT_TERM_POWER,
            PortfolioMargin.LONG_TERM_POWER,
            PortfolioMargin.MIN_VOL_FOR_SHOCK_UP,
            PortfolioMargin.VOL_DOWN_FLOOR,
            PortfolioMargin.STATIC_SPOT_SHOCK,
            PortfolioMargin.STATIC_IV_UP,
            PortfolioMargin.STATIC_IV_DOWN,
            PortfolioMargin.STATIC_REF_IV,
            PortfolioMargin.MIN_SPOT_SHOCK,
            PortfolioMargin.MAX_SPOT_DOWN,
            PortfolioMargin.MAX_SPOT_UP,
            PortfolioMargin.MAX_IV_UP,
            PortfolioMargin.MAX_IV_DOWN,
            PortfolioMargin.MIN_REF_IV,
            PortfolioMargin.MAX_REF_IV
        ];
    }
}

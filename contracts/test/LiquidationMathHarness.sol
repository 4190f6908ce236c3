// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {LiquidationProbability} from "../libraries/LiquidationProbability.sol";

/// @notice Test-only: exposes LiquidationProbability so tests compare it with models/liquidation.py.
contract LiquidationMathHarness {
    function firstPassage(uint256 healthFactor, uint256 vol, uint256 horizonHours, uint256 volScale, uint256 nu)
        external
        pure
        returns (uint256)
    {
        return LiquidationProbability.firstPassage(healthFactor, vol, horizonHours, volScale, nu);
    }
}

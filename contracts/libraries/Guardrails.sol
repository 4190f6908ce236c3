// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "../interfaces/IRiskOracle.sol";

/// @title Guardrails
/// @notice Pure guardrail math shared by the oracle and its tests (RiskSteward style).
library Guardrails {
    uint256 internal constant WAD = 1e18;

    /// @notice True when `min <= value <= max`.
    function withinBounds(IRiskOracle.ParameterGuard memory guard, uint256 value) internal pure returns (bool) {
        return value >= guard.min && value <= guard.max;
    }

    /// @notice True when moving from `previous` to `value` respects `maxChange`: |value - previous| <=
    ///         maxChange (absolute), or |value - previous| * 1e18 <= previous * maxChange (relative, so
    ///         0.1e18 allows 10% of the previous value). Multiplying instead of dividing keeps it exact.
    function withinChange(IRiskOracle.ParameterGuard memory guard, uint256 previous, uint256 value)
        internal
        pure
        returns (bool)
    {
        uint256 delta = value > previous ? value - previous : previous - value;
        if (guard.relative) return delta * WAD <= previous * guard.maxChange;
        return delta <= guard.maxChange;
    }

    /// @notice A usable guard: non-empty range, representable in storage, and a change limit that lets
    ///         values move at all (a zero limit would freeze the parameter outside governance).
    function isValid(IRiskOracle.ParameterGuard memory guard) internal pure returns (bool) {
        return guard.min <= guard.max && guard.maxChange > 0;
    }
}

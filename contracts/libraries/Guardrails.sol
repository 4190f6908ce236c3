// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "../interfaces/IRiskOracle.sol";

/// @title Guardrails
/// @notice Guard math on the oracle's fixed-point values (value = v / 2^scale) with bounds and steps in
///         basis points of the value, shared by the oracle, its tests and models/protocol/guards.py's
///         replay (the same integers, the same inequalities). Guards are stored packed, 64 bits each.
library Guardrails {
    /// @notice A step of this many basis points means "unlimited in this direction".
    uint16 internal constant UNLIMITED_STEP = type(uint16).max;
    uint256 internal constant BP = 10_000;

    /// @notice Why a value fails its guard (NONE when it passes).
    enum Failure {
        NONE,
        BOUNDS,
        STEP
    }

    /// @notice A usable guard: non-empty bounds and no zero step (a zero step would freeze the value).
    function isValid(IRiskOracle.Guard memory guard) internal pure returns (bool) {
        return guard.minBp <= guard.maxBp && guard.maxIncreaseBp != 0 && guard.maxDecreaseBp != 0;
    }

    function pack(IRiskOracle.Guard memory guard) internal pure returns (uint64) {
        return uint64(guard.minBp) | (uint64(guard.maxBp) << 16) | (uint64(guard.maxIncreaseBp) << 32)
            | (uint64(guard.maxDecreaseBp) << 48);
    }

    function unpack(uint64 packed) internal pure returns (IRiskOracle.Guard memory guard) {
        guard.minBp = uint16(packed);
        guard.maxBp = uint16(packed >> 16);
        guard.maxIncreaseBp = uint16(packed >> 32);
        guard.maxDecreaseBp = uint16(packed >> 48);
    }

    /// @notice Checks `value` against a packed guard: minBp <= value <= maxBp, and when a previous value
    ///         exists, an increase of at most maxIncreaseBp and a decrease of at most maxDecreaseBp
    ///         (all in basis points of 1.0, compared exactly as v * 10000 against bp * 2^scale).
    function check(uint64 packed, uint256 value, bool hasPrevious, uint256 previous, uint8 scale)
        internal
        pure
        returns (Failure)
    {
        uint256 unit = uint256(1) << scale;
        uint256 scaled = value * BP;
        if (scaled < uint256(uint16(packed)) * unit || scaled > uint256(uint16(packed >> 16)) * unit) {
            return Failure.BOUNDS;
        }
        if (!hasPrevious) return Failure.NONE;
        uint16 limit = value > previous ? uint16(packed >> 32) : uint16(packed >> 48);
        uint256 delta = value > previous ? value - previous : previous - value;
        if (limit != UNLIMITED_STEP && delta * BP > uint256(limit) * unit) return Failure.STEP;
        return Failure.NONE;
    }
}

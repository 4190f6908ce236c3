// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "../interfaces/IRiskOracle.sol";
import {Guardrails} from "../libraries/Guardrails.sol";
import {RiskRecords} from "../libraries/RiskRecords.sol";

/// @notice Test-only: exposes the guard and record math so tests compare them with models/spec.py and
///         models/protocol/guards.py and with property-based reference implementations.
contract RiskMathHarness {
    function isValidGuard(IRiskOracle.Guard calldata guard) external pure returns (bool) {
        return Guardrails.isValid(guard);
    }

    function checkGuard(IRiskOracle.Guard calldata guard, uint256 value, bool hasPrevious, uint256 previous, uint8 scale)
        external
        pure
        returns (uint8)
    {
        return uint8(Guardrails.check(Guardrails.pack(guard), value, hasPrevious, previous, scale));
    }

    function packGuard(IRiskOracle.Guard calldata guard) external pure returns (IRiskOracle.Guard memory) {
        return Guardrails.unpack(Guardrails.pack(guard));
    }

    function packRecord(uint32 modelId, uint64 epoch, uint64 observedAt, uint256[] calldata values)
        external
        pure
        returns (uint32, uint64, uint64, uint256[] memory unpacked)
    {
        (uint256 head, uint256 tail) = RiskRecords.pack(modelId, epoch, observedAt, values);
        unpacked = new uint256[](values.length);
        for (uint256 i = 0; i < values.length; ++i) {
            unpacked[i] = RiskRecords.valueAt(head, tail, i);
        }
        return (RiskRecords.modelId(head), RiskRecords.epoch(head), RiskRecords.observedAt(head), unpacked);
    }
}

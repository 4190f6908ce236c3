// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "../interfaces/IRiskOracle.sol";
import {Guardrails} from "../libraries/Guardrails.sol";
import {RiskInstances} from "../libraries/RiskInstances.sol";

/// @notice Test-only: exposes the instance layout and guardrail math so tests compare them with
///         models/spec.py and with property-based reference implementations.
contract RiskMathHarness {
    function outputCount() external pure returns (uint256) {
        return RiskInstances.OUTPUT_COUNT;
    }

    function fieldModulus() external pure returns (uint256) {
        return RiskInstances.FIELD_MODULUS;
    }

    function maxOutputFelt() external pure returns (uint256) {
        return RiskInstances.MAX_OUTPUT_FELT;
    }

    function instanceCount(uint256 k) external pure returns (uint256) {
        return RiskInstances.instanceCount(k);
    }

    function feltToWad(uint256 felt, uint8 outputScale) external pure returns (uint256) {
        return RiskInstances.feltToWad(felt, outputScale);
    }

    function outputFelt(uint256[] calldata instances, uint256 k, uint256 i, uint256 j)
        external
        pure
        returns (uint256)
    {
        return RiskInstances.outputFelt(instances, k, i, j);
    }

    function withinBounds(IRiskOracle.ParameterGuard calldata guard, uint256 value) external pure returns (bool) {
        return Guardrails.withinBounds(guard, value);
    }

    function withinChange(IRiskOracle.ParameterGuard calldata guard, uint256 previous, uint256 value)
        external
        pure
        returns (bool)
    {
        return Guardrails.withinChange(guard, previous, value);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDataCommitmentRegistry} from "../interfaces/IDataCommitmentRegistry.sol";
import {RiskOracle} from "../RiskOracle.sol";

/// @notice Test-only RiskOracle with one extra entry point that applies updates through the real
///         sequence and guardrail path without a proof, so random action sequences can exercise the
///         oracle's invariants (bounds, strictly increasing epochs) beyond the few real proofs.
contract RiskOracleHarness is RiskOracle {
    constructor(
        IDataCommitmentRegistry registry,
        address governance,
        address guardian,
        ParameterGuard[5] memory guards,
        Timing memory initialTiming
    ) RiskOracle(registry, governance, guardian, guards, initialTiming) {}

    function applyUnproven(uint32 modelId, RiskUpdate[] memory updates) external whenNotPaused {
        for (uint256 i = 0; i < updates.length; ++i) {
            _checkSequence(updates, i);
        }
        _applyWithGuardrails(modelId, updates);
    }
}

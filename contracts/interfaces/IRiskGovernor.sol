// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "./IRiskOracle.sol";

/// @title IRiskGovernor
/// @notice Governance of the RiskOracle. Parameter changes beyond the guardrails can only be proposed
///         with a proof: `proposeRiskUpdate` verifies it through the oracle at proposal time and requires
///         the proposed values to equal the proof's decoded outputs, so voters vote on proved numbers.
///         Every other oracle change (model upgrades, guardrails, roles) is an ordinary proposal executed
///         by the same timelock.
interface IRiskGovernor {
    /// @notice The arguments of `IRiskOracle.submitUpdate`, bundled.
    struct ProvedUpdate {
        uint32 modelId;
        uint64[] marketIds;
        uint64[] epochs;
        bytes proof;
        uint256[] instances;
    }

    /// @notice A proved parameter proposal was created.
    event ProvenProposalCreated(
        uint256 indexed proposalId, uint32 indexed modelId, bytes32 instancesHash, uint256 marketCount
    );

    /// @notice Proposed values differ from the proof's outputs (at index `index` of the batch).
    error ProposedValuesMismatch(uint256 index);
    /// @notice The number of proposed updates differs from the number of proved markets.
    error ProposedCountMismatch(uint256 proved, uint256 proposed);
    /// @notice `applyGovernanceUpdate` can only be proposed through `proposeRiskUpdate`.
    error UnprovenParameterChange();

    /// @notice The oracle this governor controls (through its timelock).
    function ORACLE() external view returns (IRiskOracle);

    /// @notice Proposes `proposed` after checking them against the proof (see the contract notice).
    function proposeRiskUpdate(
        ProvedUpdate calldata update,
        IRiskOracle.RiskUpdate[] calldata proposed,
        string calldata description
    ) external returns (uint256 proposalId);

    /// @notice The (targets, values, calldatas) `proposeRiskUpdate` creates for `proposed`, so clients
    ///         can compute the proposal id and later queue and execute it.
    function riskUpdateActions(uint32 modelId, IRiskOracle.RiskUpdate[] calldata proposed)
        external
        view
        returns (address[] memory targets, uint256[] memory values, bytes[] memory calldatas);
}

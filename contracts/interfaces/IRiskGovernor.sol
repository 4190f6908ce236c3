// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "./IRiskOracle.sol";

/// @title IRiskGovernor
/// @notice Governance of the RiskOracle. Parameter changes beyond the guardrails can only be proposed
///         with a proof: `proposeRiskUpdate` verifies it (signatures, epochs, state and the zk proof)
///         through the oracle at proposal time and requires the proposed values to equal the proof's
///         decoded outputs, so voters vote on proved numbers; the oracle re-checks the model, markets,
///         epochs, report age and signatures again when the vote executes. Every other oracle change
///         (model upgrades, guardrails, publishers, roles) is an ordinary proposal executed by the same
///         timelock.
/// @dev What the unproven-change filter covers: a proposal may not call the oracle's
///      `applyGovernanceUpdate` directly, nor relay calls through the timelock's own schedule/execute
///      functions (the one route around a top-level filter). It does not stop a majority from voting
///      something else dangerous, such as granting a role: a passing vote can do whatever the timelock
///      can, and the timelock delay plus the guardian's CANCELLER_ROLE are the defence against that.
interface IRiskGovernor {
    /// @notice A proved parameter proposal was created.
    event ProvenProposalCreated(
        uint256 indexed proposalId, uint32 indexed modelId, bytes32 instancesHash, uint256 marketCount
    );

    /// @notice Proposed values differ from the proof's outputs (at index `index` of the batch).
    error ProposedValuesMismatch(uint256 index);
    /// @notice The number of proposed updates differs from the number of proved markets.
    error ProposedCountMismatch(uint256 proved, uint256 proposed);
    /// @notice `applyGovernanceUpdate` can only be proposed through `proposeRiskUpdate`, and proposals may
    ///         not relay calls through the timelock.
    error UnprovenParameterChange();

    /// @notice The oracle this governor controls (through its timelock).
    function ORACLE() external view returns (IRiskOracle);

    /// @notice Proposes `proposed` after checking them against the proof (see the contract notice).
    function proposeRiskUpdate(
        IRiskOracle.ProvedUpdate calldata update,
        IRiskOracle.MarketUpdate[] calldata proposed,
        string calldata description
    ) external returns (uint256 proposalId);

    /// @notice The (targets, values, calldatas) `proposeRiskUpdate` creates for `proposed`, so clients
    ///         can compute the proposal id and later queue and execute it.
    function riskUpdateActions(
        uint32 modelId,
        IRiskOracle.MarketUpdate[] calldata proposed,
        IRiskOracle.Signature[] calldata signatures
    ) external view returns (address[] memory targets, uint256[] memory values, bytes[] memory calldatas);
}

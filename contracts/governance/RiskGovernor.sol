// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {Governor} from "@openzeppelin/contracts/governance/Governor.sol";
import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";
import {GovernorCountingSimple} from "@openzeppelin/contracts/governance/extensions/GovernorCountingSimple.sol";
import {GovernorSettings} from "@openzeppelin/contracts/governance/extensions/GovernorSettings.sol";
import {GovernorTimelockControl} from "@openzeppelin/contracts/governance/extensions/GovernorTimelockControl.sol";
import {GovernorVotes} from "@openzeppelin/contracts/governance/extensions/GovernorVotes.sol";
import {GovernorVotesQuorumFraction} from
    "@openzeppelin/contracts/governance/extensions/GovernorVotesQuorumFraction.sol";
import {IVotes} from "@openzeppelin/contracts/governance/utils/IVotes.sol";
import {IRiskGovernor} from "../interfaces/IRiskGovernor.sol";
import {IRiskOracle} from "../interfaces/IRiskOracle.sol";

/// @title RiskGovernor
/// @notice OpenZeppelin Governor (ERC20Votes, simple counting, quorum fraction) executing through a
///         TimelockController that holds the oracle's GOVERNANCE_ROLE; adds proved parameter proposals.
/// @dev The governor must be the timelock's only proposer: otherwise an unproven
///      `applyGovernanceUpdate` could reach the timelock around `propose`'s check. See IRiskGovernor for
///      what the filter covers.
contract RiskGovernor is
    IRiskGovernor,
    Governor,
    GovernorSettings,
    GovernorCountingSimple,
    GovernorVotes,
    GovernorVotesQuorumFraction,
    GovernorTimelockControl
{
    /// @inheritdoc IRiskGovernor
    IRiskOracle public immutable ORACLE;

    constructor(
        IVotes token,
        TimelockController timelock,
        IRiskOracle oracle,
        uint48 votingDelay_,
        uint32 votingPeriod_,
        uint256 proposalThreshold_,
        uint256 quorumPercent
    )
        Governor("zkrisk RiskGovernor")
        GovernorSettings(votingDelay_, votingPeriod_, proposalThreshold_)
        GovernorVotes(token)
        GovernorVotesQuorumFraction(quorumPercent)
        GovernorTimelockControl(timelock)
    {
        ORACLE = oracle;
    }

    /// @inheritdoc IRiskGovernor
    function proposeRiskUpdate(
        IRiskOracle.ProvedUpdate calldata update,
        IRiskOracle.MarketUpdate[] calldata proposed,
        string calldata description
    ) external returns (uint256 proposalId) {
        // Reverts with the oracle's own error when the proof, signatures, epoch, state or model is not valid now.
        IRiskOracle.MarketUpdate[] memory proved = ORACLE.verifyUpdate(update);
        if (proved.length != proposed.length) revert ProposedCountMismatch(proved.length, proposed.length);
        for (uint256 i = 0; i < proved.length; ++i) {
            if (keccak256(abi.encode(proved[i])) != keccak256(abi.encode(proposed[i]))) {
                revert ProposedValuesMismatch(i);
            }
        }
        (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) =
            riskUpdateActions(update.modelId, proposed, update.signatures);
        // super.propose skips this contract's unproven-change filter and keeps Governor's own checks
        // (proposal threshold, description restriction).
        proposalId = super.propose(targets, values, calldatas, description);
        emit ProvenProposalCreated(
            proposalId, update.modelId, keccak256(abi.encodePacked(update.instances)), proved.length
        );
    }

    /// @inheritdoc IRiskGovernor
    function riskUpdateActions(
        uint32 modelId,
        IRiskOracle.MarketUpdate[] calldata proposed,
        IRiskOracle.Signature[] calldata signatures
    ) public view returns (address[] memory targets, uint256[] memory values, bytes[] memory calldatas) {
        targets = new address[](1);
        values = new uint256[](1);
        calldatas = new bytes[](1);
        targets[0] = address(ORACLE);
        calldatas[0] = abi.encodeCall(IRiskOracle.applyGovernanceUpdate, (modelId, proposed, signatures));
    }

    /// @notice Ordinary proposals; refuses any that would apply parameters without a proof, directly or
    ///         relayed through the timelock's scheduling functions.
    function propose(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        string memory description
    ) public override returns (uint256) {
        address timelock = timelock();
        for (uint256 i = 0; i < targets.length; ++i) {
            bytes4 selector = _selector(calldatas[i]);
            if (
                (targets[i] == address(ORACLE) && selector == IRiskOracle.applyGovernanceUpdate.selector)
                    || (targets[i] == timelock && _isRelay(selector))
            ) revert UnprovenParameterChange();
        }
        return super.propose(targets, values, calldatas, description);
    }

    function _isRelay(bytes4 selector) private pure returns (bool) {
        return selector == TimelockController.schedule.selector || selector == TimelockController.scheduleBatch.selector
            || selector == TimelockController.execute.selector || selector == TimelockController.executeBatch.selector;
    }

    function _selector(bytes memory data) private pure returns (bytes4 selector) {
        if (data.length < 4) return bytes4(0);
        assembly ("memory-safe") {
            selector := mload(add(data, 0x20))
        }
    }

    // The overrides below only resolve OpenZeppelin's multiple inheritance.

    function votingDelay() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingDelay();
    }

    function votingPeriod() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.votingPeriod();
    }

    function quorum(uint256 blockNumber)
        public
        view
        override(Governor, GovernorVotesQuorumFraction)
        returns (uint256)
    {
        return super.quorum(blockNumber);
    }

    function state(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (ProposalState)
    {
        return super.state(proposalId);
    }

    function proposalNeedsQueuing(uint256 proposalId)
        public
        view
        override(Governor, GovernorTimelockControl)
        returns (bool)
    {
        return super.proposalNeedsQueuing(proposalId);
    }

    function proposalThreshold() public view override(Governor, GovernorSettings) returns (uint256) {
        return super.proposalThreshold();
    }

    function _queueOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint48) {
        return super._queueOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _executeOperations(
        uint256 proposalId,
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) {
        super._executeOperations(proposalId, targets, values, calldatas, descriptionHash);
    }

    function _cancel(
        address[] memory targets,
        uint256[] memory values,
        bytes[] memory calldatas,
        bytes32 descriptionHash
    ) internal override(Governor, GovernorTimelockControl) returns (uint256) {
        return super._cancel(targets, values, calldatas, descriptionHash);
    }

    function _executor() internal view override(Governor, GovernorTimelockControl) returns (address) {
        return super._executor();
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {IDataCommitmentRegistry} from "./interfaces/IDataCommitmentRegistry.sol";
import {RiskInstances} from "./libraries/RiskInstances.sol";

/// @title DataCommitmentRegistry
/// @notice k-of-n attestation of each market's committed input window per epoch.
/// @dev The admin (DEFAULT_ADMIN_ROLE, a timelock in production) manages publishers and k. Revoking a
///      publisher may not leave fewer publishers than k, so finality always stays reachable.
contract DataCommitmentRegistry is IDataCommitmentRegistry, AccessControl {
    /// @inheritdoc IDataCommitmentRegistry
    bytes32 public constant PUBLISHER_ROLE = keccak256("PUBLISHER_ROLE");

    /// @inheritdoc IDataCommitmentRegistry
    uint16 public quorum;
    /// @inheritdoc IDataCommitmentRegistry
    uint256 public publisherCount;

    mapping(uint64 marketId => mapping(uint64 epoch => Commitment)) private _commitments;
    mapping(uint64 marketId => mapping(uint64 epoch => mapping(address publisher => bool))) private _posted;

    /// @param admin Holder of DEFAULT_ADMIN_ROLE.
    /// @param publishers Initial publishers (n).
    /// @param initialQuorum k, with 1 <= k <= n.
    constructor(address admin, address[] memory publishers, uint16 initialQuorum) {
        _grantRole(DEFAULT_ADMIN_ROLE, admin);
        for (uint256 i = 0; i < publishers.length; ++i) {
            _grantRole(PUBLISHER_ROLE, publishers[i]);
        }
        _setQuorum(initialQuorum);
    }

    /// @inheritdoc IDataCommitmentRegistry
    function setQuorum(uint16 newQuorum) external onlyRole(DEFAULT_ADMIN_ROLE) {
        _setQuorum(newQuorum);
    }

    /// @inheritdoc IDataCommitmentRegistry
    function commit(uint64 marketId, uint64 epoch, bytes32 inputHash, uint64 observedAt)
        external
        onlyRole(PUBLISHER_ROLE)
    {
        if (inputHash == bytes32(0) || uint256(inputHash) >= RiskInstances.FIELD_MODULUS) {
            revert InvalidInputHash(inputHash);
        }
        if (observedAt > block.timestamp) revert ObservationInFuture(observedAt, block.timestamp);
        if (_posted[marketId][epoch][msg.sender]) revert AlreadyCommitted(marketId, epoch, msg.sender);

        _posted[marketId][epoch][msg.sender] = true;
        Commitment storage c = _commitments[marketId][epoch];
        if (c.approvals == 0 && !c.conflicted) {
            c.inputHash = inputHash;
            c.observedAt = observedAt;
        } else if (c.inputHash != inputHash || c.observedAt != observedAt) {
            c.conflicted = true;
            emit CommitmentConflict(marketId, epoch, msg.sender, c.inputHash, inputHash, observedAt);
            return;
        }
        uint16 approvals = c.approvals + 1;
        c.approvals = approvals;
        emit CommitmentPosted(marketId, epoch, msg.sender, inputHash, observedAt, approvals);
        // `>=` rather than `==`: the quorum may have been lowered below the approvals already counted.
        if (approvals >= quorum && c.finalizedAt == 0) {
            c.finalizedAt = uint64(block.timestamp);
            if (!c.conflicted) emit CommitmentFinalized(marketId, epoch, inputHash, observedAt);
        }
    }

    /// @inheritdoc IDataCommitmentRegistry
    function getCommitment(uint64 marketId, uint64 epoch) external view returns (Commitment memory) {
        return _commitments[marketId][epoch];
    }

    /// @inheritdoc IDataCommitmentRegistry
    function finalCommitment(uint64 marketId, uint64 epoch)
        external
        view
        returns (bool isFinal, bytes32 inputHash, uint64 observedAt)
    {
        Commitment storage c = _commitments[marketId][epoch];
        return (c.finalizedAt != 0 && !c.conflicted, c.inputHash, c.observedAt);
    }

    /// @inheritdoc IDataCommitmentRegistry
    function hasCommitted(uint64 marketId, uint64 epoch, address publisher) external view returns (bool) {
        return _posted[marketId][epoch][publisher];
    }

    function _setQuorum(uint16 newQuorum) private {
        if (newQuorum == 0 || newQuorum > publisherCount) revert InvalidQuorum(newQuorum, publisherCount);
        emit QuorumChanged(quorum, newQuorum);
        quorum = newQuorum;
    }

    /// @dev Counts publishers so k can be checked against n.
    function _grantRole(bytes32 role, address account) internal override returns (bool granted) {
        granted = super._grantRole(role, account);
        if (granted && role == PUBLISHER_ROLE) ++publisherCount;
    }

    /// @dev Refuses to leave fewer publishers than the quorum (finality would become unreachable).
    function _revokeRole(bytes32 role, address account) internal override returns (bool revoked) {
        if (role == PUBLISHER_ROLE && hasRole(role, account) && publisherCount <= quorum) {
            revert InvalidQuorum(quorum, publisherCount - 1);
        }
        revoked = super._revokeRole(role, account);
        if (revoked && role == PUBLISHER_ROLE) --publisherCount;
    }
}

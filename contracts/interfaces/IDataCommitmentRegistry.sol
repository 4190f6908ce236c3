// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IDataCommitmentRegistry
/// @notice k-of-n publishers attest the Poseidon hash of each market's input window per epoch. A
///         commitment is final once `quorum` publishers posted the same (inputHash, observedAt) for a
///         (market, epoch) and no publisher posted anything else. A conflicting post is recorded and makes
///         the commitment non-final for good, including one that had already reached quorum: a
///         disagreement among publishers must stop updates for that epoch, and the next epoch is cheap.
interface IDataCommitmentRegistry {
    /// @notice State of one (market, epoch) commitment.
    /// @param inputHash The Poseidon hash (a BN254 field element) the first publisher posted.
    /// @param observedAt Timestamp of the last observation in the committed window.
    /// @param finalizedAt Block timestamp at which the quorum was reached; 0 while below quorum.
    /// @param approvals Publishers that posted exactly (inputHash, observedAt).
    /// @param conflicted True once any publisher posted a different hash or observation time.
    struct Commitment {
        bytes32 inputHash;
        uint64 observedAt;
        uint64 finalizedAt;
        uint16 approvals;
        bool conflicted;
    }

    /// @notice The quorum k changed.
    event QuorumChanged(uint16 previousQuorum, uint16 newQuorum);
    /// @notice A publisher posted a hash that agrees with the commitment so far (or opened it).
    event CommitmentPosted(
        uint64 indexed marketId,
        uint64 indexed epoch,
        address indexed publisher,
        bytes32 inputHash,
        uint64 observedAt,
        uint16 approvals
    );
    /// @notice The commitment reached the quorum.
    event CommitmentFinalized(uint64 indexed marketId, uint64 indexed epoch, bytes32 inputHash, uint64 observedAt);
    /// @notice A publisher disagreed; the commitment can no longer be final.
    event CommitmentConflict(
        uint64 indexed marketId,
        uint64 indexed epoch,
        address indexed publisher,
        bytes32 committedHash,
        bytes32 conflictingHash,
        uint64 conflictingObservedAt
    );

    /// @notice The quorum must satisfy 1 <= quorum <= number of publishers.
    error InvalidQuorum(uint256 quorum, uint256 publishers);
    /// @notice The hash is zero or not a BN254 field element, so no proof can ever match it.
    error InvalidInputHash(bytes32 inputHash);
    /// @notice `observedAt` lies in the future of the current block.
    error ObservationInFuture(uint64 observedAt, uint256 blockTimestamp);
    /// @notice Each publisher posts once per (market, epoch).
    error AlreadyCommitted(uint64 marketId, uint64 epoch, address publisher);

    /// @notice Role allowed to post commitments.
    function PUBLISHER_ROLE() external view returns (bytes32);

    /// @notice Number of agreeing publishers needed for finality (k).
    function quorum() external view returns (uint16);

    /// @notice Number of accounts holding the publisher role (n).
    function publisherCount() external view returns (uint256);

    /// @notice Sets k. Admin only; 1 <= k <= n.
    function setQuorum(uint16 newQuorum) external;

    /// @notice Posts the caller's attestation of the input hash for (market, epoch).
    /// @param marketId On-chain market id (models/spec.py MARKETS).
    /// @param epoch Update epoch; the hashed input vector contains it, so the hash binds it.
    /// @param inputHash Poseidon hash of [marketId, epoch, features...] as EZKL computes it.
    /// @param observedAt Timestamp of the newest observation in the window (freshness is measured from it).
    function commit(uint64 marketId, uint64 epoch, bytes32 inputHash, uint64 observedAt) external;

    /// @notice The commitment for (market, epoch); all zero when nothing was posted.
    function getCommitment(uint64 marketId, uint64 epoch) external view returns (Commitment memory);

    /// @notice Whether (market, epoch) reached the quorum without conflict, with the agreed values.
    function finalCommitment(uint64 marketId, uint64 epoch)
        external
        view
        returns (bool isFinal, bytes32 inputHash, uint64 observedAt);

    /// @notice Whether `publisher` already posted for (market, epoch).
    function hasCommitted(uint64 marketId, uint64 epoch, address publisher) external view returns (bool);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IHalo2Verifier
/// @notice The circuit-specific verifier EZKL generates (`create_evm_verifier(..., reusable=False)`):
///         the verification key is baked into the bytecode.
/// @dev Generated verifiers revert or return false on an invalid proof; callers must treat both as failure.
interface IHalo2Verifier {
    /// @notice Verifies `proof` against the public `instances` (field elements, EZKL order).
    function verifyProof(bytes calldata proof, uint256[] calldata instances) external returns (bool);
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IHalo2VerifierReusable
/// @notice EZKL's circuit-independent verifier (`create_evm_verifier(..., reusable=True)`): the circuit's
///         verification key artifact (VKA) is passed with every call and must have been registered first.
/// @dev The generated contract takes the VKA as `bytes32[] memory`, so the ABI below matches it exactly.
///      Its `verifyProof` returns through inline assembly: on success the first two return words are
///      `1` and the VKA digest; an invalid proof reverts. Callers should read those two words rather
///      than ABI-decode the rescaled tail.
interface IHalo2VerifierReusable {
    /// @notice Registers a VKA (permissionless); `digest` is keccak256 over the concatenated words.
    function registerVka(bytes32[] memory vka) external returns (bytes32 digest);

    /// @notice Verifies `proof` for `instances` under the registered `vka`.
    /// @return success True when the proof verifies.
    /// @return vkaDigest keccak256 of `vka`.
    /// @return rescaled The non-hash instances rescaled to decimals by the VKA's scale data.
    function verifyProof(bytes calldata proof, uint256[] calldata instances, bytes32[] memory vka)
        external
        returns (bool success, bytes32 vkaDigest, int256[] memory rescaled);
}

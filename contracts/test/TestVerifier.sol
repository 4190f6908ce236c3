// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IHalo2Verifier} from "../interfaces/IHalo2Verifier.sol";

/// @notice Test-only plain verifier with a settable answer, so the oracle's own checks (reports, signatures,
///         state, guards, storage) can be exercised over random sequences of values that no real proof
///         covers, and its handling of a verifier that says no, returns nothing or reverts is tested. It also
///         registers a VKA as a verifier other than EZKL's reusable one would, with another digest.
contract TestVerifier is IHalo2Verifier {
    enum Mode {
        ACCEPT,
        REJECT,
        SHORT_RETURN,
        REVERT
    }

    Mode public mode;

    function setMode(Mode newMode) external {
        mode = newMode;
    }

    function verifyProof(bytes calldata, uint256[] calldata) external view returns (bool) {
        Mode current = mode;
        if (current == Mode.REVERT) revert("TestVerifier: revert");
        if (current == Mode.SHORT_RETURN) {
            assembly ("memory-safe") {
                return(0, 0)
            }
        }
        return current == Mode.ACCEPT;
    }

    /// @notice The ABI encoding's hash, not keccak256 of the packed words that EZKL's verifier returns.
    function registerVka(bytes32[] calldata vka) external pure returns (bytes32) {
        return keccak256(abi.encode(vka));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title VkaStore
/// @notice Stores a verification key artifact (VKA) as the runtime code of a data contract (SSTORE2
///         pattern) and reads it back with EXTCODECOPY. A ~7 KB VKA costs ~2.5k gas to read this way,
///         against ~440k for SLOADing its ~210 words cold or ~110k of calldata per update.
library VkaStore {
    error VkaTooLarge(uint256 words);
    error VkaStoreFailed();

    /// @dev EIP-170 limit minus the leading STOP byte.
    uint256 internal constant MAX_WORDS = 767; // floor(24_575 / 32)

    /// @notice Deploys `words` (non-empty) as code prefixed with STOP (0x00), so the data never runs as code.
    /// @return pointer The data contract.
    function write(bytes32[] calldata words) internal returns (address pointer) {
        if (words.length > MAX_WORDS) revert VkaTooLarge(words.length);
        bytes memory runtime = abi.encodePacked(hex"00", words);
        // Init code: PUSH4 len, DUP1, PUSH1 14, PUSH1 0, CODECOPY, PUSH1 0, RETURN (14 bytes), then runtime.
        bytes memory initCode =
            abi.encodePacked(hex"63", uint32(runtime.length), hex"80600e6000396000f3", runtime);
        assembly ("memory-safe") {
            pointer := create(0, add(initCode, 0x20), mload(initCode))
        }
        if (pointer == address(0)) revert VkaStoreFailed();
    }

    /// @notice Reads `wordCount` words back from `pointer` into a fresh bytes32[] (skipping the STOP byte).
    function read(address pointer, uint256 wordCount) internal view returns (bytes32[] memory words) {
        words = new bytes32[](wordCount);
        assembly ("memory-safe") {
            extcodecopy(pointer, add(words, 0x20), 1, mul(wordCount, 0x20))
        }
    }
}

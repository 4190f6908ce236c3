// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title RiskRecords
/// @notice One market's latest values of one layout, packed: the head slot holds the model id, epoch,
///         observation time and the first `HEAD_VALUES` values; the tail slot the next `TAIL_VALUES`.
///         A layout of up to six outputs (the lending layout has five) costs one slot per update.
/// @dev Head bit layout: [0, 32) model id, [32, 64) epoch, [64, 104) observedAt, then 24 bits per value.
library RiskRecords {
    uint256 internal constant VALUE_BITS = 24;
    uint256 internal constant VALUE_LIMIT = 1 << VALUE_BITS;
    uint256 internal constant HEAD_VALUES = 6;
    uint256 internal constant TAIL_VALUES = 10;
    uint256 internal constant MAX_VALUES = HEAD_VALUES + TAIL_VALUES;
    uint256 private constant HEAD_VALUES_OFFSET = 104;
    uint256 private constant MASK_24 = VALUE_LIMIT - 1;

    struct Record {
        uint256 head;
        uint256 tail;
    }

    function modelId(uint256 head) internal pure returns (uint32) {
        return uint32(head);
    }

    function epoch(uint256 head) internal pure returns (uint64) {
        return uint64(uint32(head >> 32));
    }

    function observedAt(uint256 head) internal pure returns (uint64) {
        return uint64(uint40(head >> 64));
    }

    /// @notice Value `i` (fixed-point) given the record's head and, for i >= HEAD_VALUES, its tail.
    /// @dev Not named `value`: Slither 0.11 reads `RiskRecords.value(...)` as the legacy call-value option
    ///      and fails to analyse every function that calls it.
    function valueAt(uint256 head, uint256 tail, uint256 i) internal pure returns (uint256) {
        if (i < HEAD_VALUES) return (head >> (HEAD_VALUES_OFFSET + VALUE_BITS * i)) & MASK_24;
        return (tail >> (VALUE_BITS * (i - HEAD_VALUES))) & MASK_24;
    }

    /// @notice Packs a record; every value must be below VALUE_LIMIT (callers check), the epoch below
    ///         2^32 and the observation time below 2^40.
    function pack(uint32 model, uint64 epochNumber, uint64 observed, uint256[] memory values)
        internal
        pure
        returns (uint256 head, uint256 tail)
    {
        head = uint256(model) | (uint256(uint32(epochNumber)) << 32) | (uint256(uint40(observed)) << 64);
        for (uint256 i = 0; i < values.length; ++i) {
            if (i < HEAD_VALUES) head |= values[i] << (HEAD_VALUES_OFFSET + VALUE_BITS * i);
            else tail |= values[i] << (VALUE_BITS * (i - HEAD_VALUES));
        }
    }
}

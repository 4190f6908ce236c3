// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskOracle} from "../interfaces/IRiskOracle.sol";

/// @title RiskInstances
/// @notice The public-instance layout of models/spec.py, mirrored on chain (a test checks they agree).
///         A proof over K markets has instances [inputHash_1..inputHash_K, out_1[0..5), ..., out_K[0..5)],
///         outputs in `IRiskOracle.Parameter` order, each the fixed-point field element
///         round(value * 2**outputScale).
library RiskInstances {
    /// @notice BN254 scalar field modulus (the instances' field).
    uint256 internal constant FIELD_MODULUS =
        21888242871839275222246405745257275088548364400416034343698204186575808495617;
    uint256 internal constant WAD = 1e18;
    /// @notice Outputs per market: vol, var99, es99, lt, cr.
    uint256 internal constant OUTPUT_COUNT = 5;
    /// @notice Largest accepted output felt. Any risk parameter is far below it at every scale (2^128 at
    ///         scale 16 is 5e33), and it keeps felt * 1e18 inside 256 bits (< 2^188).
    uint256 internal constant MAX_OUTPUT_FELT = 2 ** 128;

    /// @notice Number of instances of a proof over `k` markets.
    function instanceCount(uint256 k) internal pure returns (uint256) {
        return k * (1 + OUTPUT_COUNT);
    }

    /// @notice Poseidon input hash of the `i`-th market of the batch.
    function inputHash(uint256[] calldata instances, uint256 i) internal pure returns (bytes32) {
        return bytes32(instances[i]);
    }

    /// @notice Output `j` of market `i` in a batch of `k`, as a raw field element.
    function outputFelt(uint256[] calldata instances, uint256 k, uint256 i, uint256 j)
        internal
        pure
        returns (uint256)
    {
        return instances[k + i * OUTPUT_COUNT + j];
    }

    /// @notice Decodes a non-negative fixed-point field element to WAD: felt * 1e18 >> scale, rounded
    ///         down (models/spec.py `felt_to_wad`). Negative encodings (felt > p/2) and absurdly large
    ///         ones (> MAX_OUTPUT_FELT) are rejected: no risk parameter is negative, and accepting a
    ///         wrapped negative would let it pass as a huge positive value.
    function feltToWad(uint256 felt, uint8 outputScale) internal pure returns (uint256) {
        if (felt > MAX_OUTPUT_FELT) revert IRiskOracle.InvalidOutput(felt);
        return (felt * WAD) >> outputScale;
    }
}

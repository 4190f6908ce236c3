// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title IRiskParameterSource
/// @notice The reads a consumer needs from the risk oracle: a market's latest values of one output layout
///         (models/spec.py declares the layouts; contracts/libraries/RiskLayouts.sol has their ids),
///         their age, and whether updates are paused.
interface IRiskParameterSource {
    /// @notice A market's latest values of a layout in WAD (layout order); all zero before its first update.
    /// @return values One WAD value per output of the layout.
    /// @return observedAt Observation time of the data the values were proved from (0 before any update).
    /// @return epoch Epoch of the update.
    /// @return modelId Model that proved them.
    function getParameters(uint64 marketId, uint16 layoutId)
        external
        view
        returns (uint256[] memory values, uint64 observedAt, uint64 epoch, uint32 modelId);

    /// @notice True when the market has no values of the layout or they are older than the staleness period.
    function isStale(uint64 marketId, uint16 layoutId) external view returns (bool);

    /// @notice True while updates are paused (values may still be read).
    function paused() external view returns (bool);
}

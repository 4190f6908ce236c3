// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskParameterSource} from "../interfaces/IRiskParameterSource.sol";
import {RiskLayouts} from "../libraries/RiskLayouts.sol";

/// @notice Test-only settable IRiskParameterSource for the options layout: a market's shocks, its
///         staleness, the pause flag, and a switch that makes every read revert (a broken oracle).
contract TestRiskParameterSource is IRiskParameterSource {
    mapping(uint64 marketId => uint256[]) private _shocks;
    mapping(uint64 marketId => bool) private _stale;
    bool private _paused;
    bool public broken;

    /// @notice Values in RiskLayouts.OPTIONS_MARGIN order (any length, to test length checks).
    function setShocks(uint64 marketId, uint256[] calldata values) external {
        _shocks[marketId] = values;
    }

    function setStale(uint64 marketId, bool stale) external {
        _stale[marketId] = stale;
    }

    function setPaused(bool value) external {
        _paused = value;
    }

    function setBroken(bool value) external {
        broken = value;
    }

    function getParameters(uint64 marketId, uint16 layoutId)
        external
        view
        returns (uint256[] memory values, uint64 observedAt, uint64 epoch, uint32 modelId)
    {
        require(!broken, "broken");
        if (layoutId == RiskLayouts.OPTIONS_MARGIN) values = _shocks[marketId];
        return (values, values.length == 0 ? 0 : uint64(block.timestamp), 1, 1);
    }

    function isStale(uint64 marketId, uint16 layoutId) external view returns (bool) {
        require(!broken, "broken");
        return layoutId != RiskLayouts.OPTIONS_MARGIN || _shocks[marketId].length == 0 || _stale[marketId];
    }

    function paused() external view returns (bool) {
        require(!broken, "broken");
        return _paused;
    }
}

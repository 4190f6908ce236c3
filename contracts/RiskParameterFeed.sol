// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./interfaces/AggregatorV3Interface.sol";
import {IRiskOracle} from "./interfaces/IRiskOracle.sol";
import {IRiskParameterFeed} from "./interfaces/IRiskParameterFeed.sol";

/// @title RiskParameterFeed
/// @notice AggregatorV3 adapter for one (market, parameter) of the RiskOracle.
contract RiskParameterFeed is IRiskParameterFeed {
    /// @inheritdoc IRiskParameterFeed
    IRiskOracle public immutable ORACLE;
    /// @inheritdoc IRiskParameterFeed
    uint64 public immutable MARKET_ID;
    /// @inheritdoc IRiskParameterFeed
    uint16 public immutable PARAMETER_ID;

    string private _description;

    /// @dev Reverts with the oracle's UnknownParameter when `parameterId` is in no registered layout.
    constructor(IRiskOracle oracle, uint64 marketId, uint16 parameterId, string memory feedDescription) {
        oracle.getParameter(marketId, parameterId);
        ORACLE = oracle;
        MARKET_ID = marketId;
        PARAMETER_ID = parameterId;
        _description = feedDescription;
    }

    /// @inheritdoc AggregatorV3Interface
    function decimals() external pure returns (uint8) {
        return 18;
    }

    /// @inheritdoc AggregatorV3Interface
    function description() external view returns (string memory) {
        return _description;
    }

    /// @inheritdoc AggregatorV3Interface
    function version() external pure returns (uint256) {
        return 1;
    }

    /// @inheritdoc AggregatorV3Interface
    function getRoundData(uint80 roundId)
        external
        view
        returns (uint80, int256, uint256, uint256, uint80)
    {
        (uint80 latest, int256 answer, uint256 startedAt, uint256 updatedAt,) = latestRoundData();
        if (roundId != latest) revert RoundNotAvailable(roundId);
        return (latest, answer, startedAt, updatedAt, latest);
    }

    /// @inheritdoc AggregatorV3Interface
    function latestRoundData()
        public
        view
        returns (uint80 roundId, int256 answer, uint256 startedAt, uint256 updatedAt, uint80 answeredInRound)
    {
        (uint256 value, uint64 observedAt, uint64 epoch) = ORACLE.getParameter(MARKET_ID, PARAMETER_ID);
        if (observedAt == 0) revert NoDataPresent();
        // Stored values are 24-bit fixed point, so their WAD fits int256 with room to spare.
        return (uint80(epoch), int256(value), observedAt, observedAt, uint80(epoch));
    }
}

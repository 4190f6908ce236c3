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
    IRiskOracle.Parameter public immutable PARAMETER;

    string private _description;

    constructor(IRiskOracle oracle, uint64 marketId, IRiskOracle.Parameter parameter, string memory feedDescription) {
        ORACLE = oracle;
        MARKET_ID = marketId;
        PARAMETER = parameter;
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
        (uint256 value, uint64 storedAt, uint64 epoch) = ORACLE.getParameter(MARKET_ID, PARAMETER);
        if (storedAt == 0) revert NoDataPresent();
        // Values are bounded by uint96 in the oracle, so the int256 conversion cannot overflow.
        return (uint80(epoch), int256(value), storedAt, storedAt, uint80(epoch));
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";

/// @notice Test-only settable price feed (the lending market's collateral price).
contract TestPriceFeed is AggregatorV3Interface {
    uint8 public immutable decimals;
    int256 private _answer;
    uint256 private _updatedAt;
    uint80 private _round;

    constructor(uint8 feedDecimals, int256 answer) {
        decimals = feedDecimals;
        setAnswer(answer);
    }

    function setAnswer(int256 answer) public {
        _answer = answer;
        _updatedAt = block.timestamp;
        ++_round;
    }

    function description() external pure returns (string memory) {
        return "test price";
    }

    function version() external pure returns (uint256) {
        return 1;
    }

    function getRoundData(uint80) external view returns (uint80, int256, uint256, uint256, uint80) {
        return latestRoundData();
    }

    function latestRoundData() public view returns (uint80, int256, uint256, uint256, uint80) {
        return (_round, _answer, _updatedAt, _updatedAt, _round);
    }
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";
import {IRiskOracle} from "./IRiskOracle.sol";

/// @title IRiskParameterFeed
/// @notice One risk parameter of one market behind Chainlink's AggregatorV3Interface, 18 decimals (WAD).
///         A round is an oracle epoch: `roundId` = epoch, `updatedAt` = when the oracle stored it. Only the
///         latest round is kept, as the oracle keeps no history; consumers check `updatedAt` for
///         staleness exactly as they do with a Chainlink feed.
interface IRiskParameterFeed is AggregatorV3Interface {
    /// @notice The market has no parameters yet.
    error NoDataPresent();
    /// @notice Only the latest round is available.
    error RoundNotAvailable(uint80 roundId);

    function ORACLE() external view returns (IRiskOracle);
    function MARKET_ID() external view returns (uint64);
    function PARAMETER() external view returns (IRiskOracle.Parameter);
}

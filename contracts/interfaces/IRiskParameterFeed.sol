// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";
import {IRiskOracle} from "./IRiskOracle.sol";

/// @title IRiskParameterFeed
/// @notice One parameter (a global parameter id of contracts/libraries/RiskLayouts.sol) of one market
///         behind Chainlink's AggregatorV3Interface, 18 decimals (WAD). A round is an oracle epoch:
///         `roundId` = epoch, `updatedAt` = the observation time of the data the value was proved from
///         (not the time it was submitted), so consumers check staleness exactly as with a Chainlink
///         feed and measure the data's age. Only the latest round is kept, as the oracle keeps no history.
interface IRiskParameterFeed is AggregatorV3Interface {
    /// @notice The market has no value of this parameter yet.
    error NoDataPresent();
    /// @notice Only the latest round is available.
    error RoundNotAvailable(uint80 roundId);

    function ORACLE() external view returns (IRiskOracle);
    function MARKET_ID() external view returns (uint64);
    function PARAMETER_ID() external view returns (uint16);
}

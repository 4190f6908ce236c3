// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TimelockController} from "@openzeppelin/contracts/governance/TimelockController.sol";

/// @title RiskTimelock
/// @notice OpenZeppelin's TimelockController, unchanged, under a project name so it is compiled and
///         deployed with the project. It holds the oracle's GOVERNANCE_ROLE and the registry's admin
///         role; the RiskGovernor is its only proposer and canceller.
contract RiskTimelock is TimelockController {
    constructor(uint256 minDelay, address[] memory proposers, address[] memory executors, address admin)
        TimelockController(minDelay, proposers, executors, admin)
    {}
}

// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {ERC20} from "@openzeppelin/contracts/token/ERC20/ERC20.sol";
import {ERC20Permit} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Permit.sol";
import {ERC20Votes} from "@openzeppelin/contracts/token/ERC20/extensions/ERC20Votes.sol";
import {Nonces} from "@openzeppelin/contracts/utils/Nonces.sol";

/// @title RiskVotesToken
/// @notice Fixed-supply ERC20Votes governance token of the RiskGovernor. Holders delegate to vote.
contract RiskVotesToken is ERC20, ERC20Permit, ERC20Votes {
    /// @param holder Receives the whole supply.
    constructor(string memory name, string memory symbol, address holder, uint256 supply)
        ERC20(name, symbol)
        ERC20Permit(name)
    {
        _mint(holder, supply);
    }

    function _update(address from, address to, uint256 value) internal override(ERC20, ERC20Votes) {
        super._update(from, to, value);
    }

    function nonces(address owner) public view override(ERC20Permit, Nonces) returns (uint256) {
        return super.nonces(owner);
    }
}

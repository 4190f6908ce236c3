// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ILendingMarket
/// @notice Isolated lending market (one collateral asset, one debt asset) whose collateral ratio and
///         liquidation threshold come from the RiskOracle. Borrowing needs collateralValue >= debt * CR;
///         a position is liquidatable when collateralValue * LT < debt. While the oracle is paused or its
///         parameters are stale the market uses configured conservative fallbacks (higher CR, lower LT).
/// @dev Amounts are 18-decimal token units; the collateral price (debt units per collateral unit) comes
///      from a Chainlink-style feed.
interface ILendingMarket {
    struct Position {
        uint256 collateral;
        uint256 debt;
    }

    event CollateralDeposited(address indexed account, uint256 amount);
    event CollateralWithdrawn(address indexed account, uint256 amount);
    event Borrowed(address indexed account, uint256 amount, uint256 collateralRatio, bool usedFallback);
    event Repaid(address indexed account, address indexed payer, uint256 amount);
    event Liquidated(
        address indexed account,
        address indexed liquidator,
        uint256 repaid,
        uint256 seizedCollateral,
        uint256 liquidationThreshold,
        bool usedFallback
    );

    error ZeroAmount();
    error UnsupportedToken(address token);
    error InvalidFallback();
    /// @notice The action would leave collateral worth less than `required` (debt units).
    error InsufficientCollateral(uint256 collateralValue, uint256 required);
    error InsufficientCollateralBalance(uint256 available, uint256 requested);
    error RepayExceedsDebt(uint256 debt, uint256 amount);
    error NotLiquidatable(address account);
    error InvalidPrice(int256 answer);
    error StalePrice(uint256 updatedAt);

    function depositCollateral(uint256 amount) external;
    function withdrawCollateral(uint256 amount) external;
    function borrow(uint256 amount) external;
    function repay(address account, uint256 amount) external;
    /// @notice Repays `amount` of `account`'s debt and seizes collateral worth amount * (1 + bonus).
    function liquidate(address account, uint256 amount) external;

    /// @notice CR and LT in force now, and whether they are the fallbacks.
    function riskParameters() external view returns (uint256 collateralRatio, uint256 liquidationThreshold, bool usedFallback);
    function positionOf(address account) external view returns (Position memory);
    /// @notice Collateral value of `account` in debt units (WAD).
    function collateralValue(address account) external view returns (uint256);
    function isLiquidatable(address account) external view returns (bool);
}

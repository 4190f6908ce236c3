// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

/// @title ILendingMarket
/// @notice Isolated lending market (one collateral asset, one debt asset) whose max loan-to-value and
///         liquidation threshold come from the risk oracle's lending layout. Borrowing needs
///         debt <= collateralValue * maxLtv; a position is liquidatable when collateralValue * LT < debt.
///         The oracle's values are used only when they pass sanity checks (0 < maxLtv, LT <= 1,
///         LT >= maxLtv + MIN_BUFFER, (1 + bonus) * LT <= 1). When they fail, or the oracle is stale or
///         paused, new borrows use the fallback max LTV (never above the LT in force minus MIN_BUFFER),
///         and liquidations keep the last good LT until GRACE_PERIOD after it went stale, then use the
///         fallback LT: a pause or a late update never makes a healthy position liquidatable at once.
/// @dev Amounts are 18-decimal token units; the collateral price (debt units per collateral unit) comes
///      from a Chainlink-style feed.
interface ILendingMarket {
    struct Position {
        uint256 collateral;
        uint256 debt;
    }

    /// @notice Where the values in force come from.
    enum Source {
        ORACLE,
        FALLBACK
    }

    event CollateralDeposited(address indexed account, uint256 amount);
    event CollateralWithdrawn(address indexed account, uint256 amount);
    event Borrowed(address indexed account, uint256 amount, uint256 maxLtv, Source source);
    event Repaid(address indexed account, address indexed payer, uint256 amount);
    event Liquidated(
        address indexed account,
        address indexed liquidator,
        uint256 repaid,
        uint256 seizedCollateral,
        uint256 liquidationThreshold,
        Source source
    );

    error ZeroAmount();
    error UnsupportedToken(address token);
    /// @notice Fallback values are not safe on their own: need 0 < maxLtv, maxLtv + MIN_BUFFER <= LT <= 1
    ///         and (1 + bonus) * LT <= 1 (else each partial liquidation leaves the position less healthy).
    error InvalidFallback();
    /// @notice The action would leave a debt above `allowed` (collateral value times max LTV).
    error InsufficientCollateral(uint256 debt, uint256 allowed);
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

    /// @notice Max LTV for new borrows now (WAD) and where it comes from.
    function borrowParameters() external view returns (uint256 maxLtv, Source source);
    /// @notice Liquidation threshold now (WAD) and where it comes from.
    function liquidationParameters() external view returns (uint256 liquidationThreshold, Source source);
    function positionOf(address account) external view returns (Position memory);
    /// @notice Collateral value of `account` in debt units (WAD).
    function collateralValue(address account) external view returns (uint256);
    function isLiquidatable(address account) external view returns (bool);
}

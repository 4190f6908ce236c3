// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {Math} from "@openzeppelin/contracts/utils/math/Math.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {ILendingMarket} from "../interfaces/ILendingMarket.sol";
import {IRiskOracle} from "../interfaces/IRiskOracle.sol";
import {RiskLayouts} from "../libraries/RiskLayouts.sol";

/// @title LendingMarket
/// @notice Reference consumer of the risk oracle (see ILendingMarket).
/// @dev Lenders fund the market by transferring debt tokens to it; interest is out of scope here: the
///      point is how a protocol sizes borrows and liquidates with proved parameters.
contract LendingMarket is ILendingMarket {
    using SafeERC20 for IERC20;

    uint256 private constant WAD = 1e18;

    IRiskOracle public immutable ORACLE;
    uint64 public immutable MARKET_ID;
    IERC20 public immutable COLLATERAL_TOKEN;
    IERC20 public immutable DEBT_TOKEN;
    AggregatorV3Interface public immutable PRICE_FEED;
    /// @notice Oldest accepted price, in seconds.
    uint256 public immutable MAX_PRICE_AGE;
    uint256 public immutable FALLBACK_MAX_LTV;
    uint256 public immutable FALLBACK_LIQUIDATION_THRESHOLD;
    /// @notice Extra collateral a liquidator receives, WAD (0.05e18 = 5%).
    uint256 public immutable LIQUIDATION_BONUS;
    /// @notice Least gap between the LT and the max LTV the market accepts from the oracle, WAD.
    uint256 public immutable MIN_BUFFER;
    /// @notice How long after the oracle's values went stale liquidations still use its last good LT.
    uint256 public immutable GRACE_PERIOD;
    uint256 private immutable PRICE_SCALE;

    mapping(address account => Position) private _positions;

    constructor(
        IRiskOracle oracle,
        uint64 marketId,
        IERC20 collateralToken,
        IERC20 debtToken,
        AggregatorV3Interface priceFeed,
        uint256 maxPriceAge,
        uint256 fallbackMaxLtv,
        uint256 fallbackLiquidationThreshold,
        uint256 liquidationBonus,
        uint256 minBuffer,
        uint256 gracePeriod
    ) {
        if (IERC20Metadata(address(collateralToken)).decimals() != 18) revert UnsupportedToken(address(collateralToken));
        if (IERC20Metadata(address(debtToken)).decimals() != 18) revert UnsupportedToken(address(debtToken));
        if (!_sane(fallbackMaxLtv, fallbackLiquidationThreshold, liquidationBonus, minBuffer)) revert InvalidFallback();
        uint8 feedDecimals = priceFeed.decimals();
        if (feedDecimals > 18) revert UnsupportedToken(address(priceFeed));
        ORACLE = oracle;
        MARKET_ID = marketId;
        COLLATERAL_TOKEN = collateralToken;
        DEBT_TOKEN = debtToken;
        PRICE_FEED = priceFeed;
        MAX_PRICE_AGE = maxPriceAge;
        FALLBACK_MAX_LTV = fallbackMaxLtv;
        FALLBACK_LIQUIDATION_THRESHOLD = fallbackLiquidationThreshold;
        LIQUIDATION_BONUS = liquidationBonus;
        MIN_BUFFER = minBuffer;
        GRACE_PERIOD = gracePeriod;
        PRICE_SCALE = 10 ** (18 - feedDecimals);
    }

    /// @inheritdoc ILendingMarket
    function depositCollateral(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        _positions[msg.sender].collateral += amount;
        emit CollateralDeposited(msg.sender, amount);
        COLLATERAL_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILendingMarket
    function withdrawCollateral(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Position memory position = _positions[msg.sender];
        if (amount > position.collateral) revert InsufficientCollateralBalance(position.collateral, amount);
        position.collateral -= amount;
        if (position.debt != 0) {
            (uint256 maxLtv,) = borrowParameters();
            _requireCollateralized(position, maxLtv);
        }
        _positions[msg.sender].collateral = position.collateral;
        emit CollateralWithdrawn(msg.sender, amount);
        COLLATERAL_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILendingMarket
    function borrow(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Position memory position = _positions[msg.sender];
        position.debt += amount;
        (uint256 maxLtv, Source source) = borrowParameters();
        _requireCollateralized(position, maxLtv);
        _positions[msg.sender].debt = position.debt;
        emit Borrowed(msg.sender, amount, maxLtv, source);
        DEBT_TOKEN.safeTransfer(msg.sender, amount);
    }

    /// @inheritdoc ILendingMarket
    function repay(address account, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        uint256 debt = _positions[account].debt;
        if (amount > debt) revert RepayExceedsDebt(debt, amount);
        _positions[account].debt = debt - amount;
        emit Repaid(account, msg.sender, amount);
        DEBT_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc ILendingMarket
    function liquidate(address account, uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        Position memory position = _positions[account];
        if (amount > position.debt) revert RepayExceedsDebt(position.debt, amount);
        (uint256 lt, Source source) = liquidationParameters();
        uint256 price = _price();
        if (!_liquidatable(position, lt, price)) revert NotLiquidatable(account);
        // Collateral worth amount * (1 + bonus) at the feed price, capped by what the account holds.
        uint256 seized = Math.min(Math.mulDiv(amount, WAD + LIQUIDATION_BONUS, price), position.collateral);
        _positions[account] = Position({collateral: position.collateral - seized, debt: position.debt - amount});
        emit Liquidated(account, msg.sender, amount, seized, lt, source);
        DEBT_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
        COLLATERAL_TOKEN.safeTransfer(msg.sender, seized);
    }

    /// @inheritdoc ILendingMarket
    function borrowParameters() public view returns (uint256 maxLtv, Source source) {
        (uint256 oracleLtv, uint256 oracleLt, bool sane) = _oracleValues();
        if (sane && !ORACLE.paused() && !ORACLE.isStale(MARKET_ID, RiskLayouts.LENDING)) {
            return (oracleLtv, Source.ORACLE);
        }
        // Never lend above what the LT in force would liquidate at once.
        (uint256 lt,) = _liquidationThreshold(oracleLt, sane);
        uint256 cap = lt > MIN_BUFFER ? lt - MIN_BUFFER : 0;
        return (Math.min(FALLBACK_MAX_LTV, cap), Source.FALLBACK);
    }

    /// @inheritdoc ILendingMarket
    function liquidationParameters() public view returns (uint256 liquidationThreshold, Source source) {
        (, uint256 oracleLt, bool sane) = _oracleValues();
        return _liquidationThreshold(oracleLt, sane);
    }

    /// @inheritdoc ILendingMarket
    function positionOf(address account) external view returns (Position memory) {
        return _positions[account];
    }

    /// @inheritdoc ILendingMarket
    function collateralValue(address account) external view returns (uint256) {
        return Math.mulDiv(_positions[account].collateral, _price(), WAD);
    }

    /// @inheritdoc ILendingMarket
    function isLiquidatable(address account) external view returns (bool) {
        (uint256 lt,) = liquidationParameters();
        return _liquidatable(_positions[account], lt, _price());
    }

    /// @dev The oracle's max LTV and LT for this market and whether they pass the sanity checks. A pause
    ///      does not make values insane: they stay the last good ones.
    function _oracleValues() private view returns (uint256 maxLtv, uint256 lt, bool sane) {
        (uint256[] memory values, uint64 observedAt,,) = ORACLE.getParameters(MARKET_ID, RiskLayouts.LENDING);
        maxLtv = values[RiskLayouts.LENDING_MAX_LTV];
        lt = values[RiskLayouts.LENDING_LT];
        sane = observedAt != 0 && _sane(maxLtv, lt, LIQUIDATION_BONUS, MIN_BUFFER)
            && block.timestamp <= uint256(observedAt) + ORACLE.timing().stalenessPeriod + GRACE_PERIOD;
    }

    /// @dev The oracle's LT while it is sane and within the grace period after going stale, else the fallback.
    function _liquidationThreshold(uint256 oracleLt, bool sane) private view returns (uint256, Source) {
        return sane ? (oracleLt, Source.ORACLE) : (FALLBACK_LIQUIDATION_THRESHOLD, Source.FALLBACK);
    }

    function _sane(uint256 maxLtv, uint256 lt, uint256 bonus, uint256 buffer) private pure returns (bool) {
        return maxLtv != 0 && lt <= WAD && lt >= maxLtv + buffer && Math.mulDiv(lt, WAD + bonus, WAD) <= WAD;
    }

    function _requireCollateralized(Position memory position, uint256 maxLtv) private view {
        uint256 allowed = Math.mulDiv(Math.mulDiv(position.collateral, _price(), WAD), maxLtv, WAD);
        if (position.debt > allowed) revert InsufficientCollateral(position.debt, allowed);
    }

    function _liquidatable(Position memory position, uint256 liquidationThreshold, uint256 price)
        private
        pure
        returns (bool)
    {
        if (position.debt == 0) return false;
        uint256 value = Math.mulDiv(position.collateral, price, WAD);
        return Math.mulDiv(value, liquidationThreshold, WAD) < position.debt;
    }

    /// @dev Feed price in WAD; refuses non-positive and stale answers rather than guessing.
    function _price() private view returns (uint256) {
        (, int256 answer,, uint256 updatedAt,) = PRICE_FEED.latestRoundData();
        if (answer <= 0) revert InvalidPrice(answer);
        if (updatedAt == 0 || block.timestamp - updatedAt > MAX_PRICE_AGE) revert StalePrice(updatedAt);
        return uint256(answer) * PRICE_SCALE;
    }
}

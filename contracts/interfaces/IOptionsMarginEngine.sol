// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AggregatorV3Interface} from "./AggregatorV3Interface.sol";

/// @title IOptionsMarginEngine
/// @notice Portfolio-margined European options on the oracle's markets (BTC, ETH), cash-settled in one
///         18-decimal stablecoin. An account holds cash and positions keyed by option series (market,
///         expiry, strike, call/put) with a signed size in contracts (WAD, 1e18 = one unit of the
///         underlying). Its margin is the worst loss of the portfolio against its mark over a grid of spot
///         moves x implied-vol shocks built from the oracle's proved shocks (layout "options-margin"),
///         per market, summed over markets (PortfolioMargin has the grid; docs/options.md the choices).
///
///         equity = cash + sum(size * mark), mark = Black-Scholes at the feed spot and the reference vol.
///         - A trade that opens or increases a position (|size| grows or flips sign) needs equity >= IM
///           afterwards; one that only reduces positions needs equity >= MM (so an account between MM and
///           IM can de-risk). Cash may never go negative through a trade or a withdrawal.
///         - A withdrawal needs equity >= IM afterwards.
///         - An account with positions and equity < MM is liquidatable by any account (see `liquidate`).
///         - While the oracle is paused, stale, unreachable or serves values outside their sanity ranges,
///           the market's margin uses the static conservative grid.
/// @dev Trades are two-party: the maker signs an EIP-712 `Order`, the taker submits it (consent by
///      sending the transaction); no operator can move anyone's positions.
interface IOptionsMarginEngine {
    /// @notice Series fields; `seriesId` packs them (bit 0 isCall, 1-127 strike, 128-191 expiry,
    ///         192-255 marketId), so any id decodes without storage.
    struct Series {
        uint64 marketId;
        uint64 expiry;
        uint128 strike;
        bool isCall;
    }

    /// @notice A maker's signed offer. `size` is the maker's position change (contracts, WAD; > 0 buys,
    ///         < 0 sells); the taker gets the opposite. `premium` is the cash the maker receives (WAD, < 0:
    ///         the maker pays). `taker` zero lets anyone take it. Filled whole, once (per maker nonce).
    struct Order {
        address maker;
        address taker;
        uint256 seriesId;
        int256 size;
        int256 premium;
        uint256 nonce;
        uint64 deadline;
    }

    /// @notice The five proved values of layout "options-margin", WAD fractions (refIv annualised).
    struct Shocks {
        uint256 spotDown;
        uint256 spotUp;
        uint256 ivUp;
        uint256 ivDown;
        uint256 refIv;
    }

    struct Position {
        uint256 seriesId;
        int256 size;
    }

    /// @notice An account's margin now. staticGrid: some market of the account used the static grid.
    struct AccountMargin {
        int256 cash;
        int256 markValue;
        int256 equity;
        uint256 initialMargin;
        uint256 maintenanceMargin;
        bool staticGrid;
    }

    struct MarketConfig {
        uint64 marketId;
        AggregatorV3Interface priceFeed;
    }

    event Deposited(address indexed account, uint256 amount);
    event Withdrawn(address indexed account, uint256 amount);
    event Traded(
        address indexed maker,
        address indexed taker,
        uint256 indexed seriesId,
        int256 makerSize,
        int256 premium,
        uint256 nonce
    );
    event NonceCancelled(address indexed maker, uint256 nonce);
    /// @notice `fraction` (WAD) of every position moved to the liquidator, worth `portionValue` at mark,
    ///         which the account received in cash; the liquidator also received `bonus` from the account.
    event Liquidated(
        address indexed account,
        address indexed liquidator,
        uint256 fraction,
        int256 portionValue,
        uint256 bonus,
        bool staticGrid
    );
    event SettlementPriceFixed(uint64 indexed marketId, uint64 indexed expiry, uint256 price);
    event Settled(address indexed account, uint256 indexed seriesId, int256 size, int256 payoff);

    error ZeroAmount();
    error UnsupportedToken(address token);
    error InvalidConfig();
    error UnknownMarket(uint64 marketId);
    error InvalidStrike(uint256 strike);
    error SeriesExpired(uint256 seriesId, uint64 expiry);
    error ExpiryTooFar(uint64 expiry, uint256 latestExpiry);
    error InvalidSize(int256 size);
    error OrderExpired(uint64 deadline);
    error NonceAlreadyUsed(address maker, uint256 nonce);
    error InvalidSignature();
    error WrongTaker(address expected, address actual);
    error SelfTrade(address account);
    error TooManyPositions(address account, uint256 maxPositions);
    /// @notice The action would leave `account` with negative cash: it has `available`, needs `required`.
    error InsufficientCash(address account, int256 available, uint256 required);
    /// @notice The action would leave `account` with equity below `required` (IM, or MM for a reduction).
    error InsufficientMargin(address account, int256 equity, uint256 required);
    error NotLiquidatable(address account, int256 equity, uint256 maintenanceMargin);
    error SelfLiquidation();
    error InvalidLiquidationFraction(uint256 fraction, uint256 maxFraction);
    error NoPosition(address account, uint256 seriesId);
    error SeriesNotExpired(uint256 seriesId, uint64 expiry);
    /// @notice No feed answer at or after the expiry yet (`updatedAt` is the latest answer's time).
    error SettlementPriceUnavailable(uint64 marketId, uint64 expiry, uint256 updatedAt);
    error InvalidPrice(uint64 marketId, int256 answer);
    error StalePrice(uint64 marketId, uint256 updatedAt);

    /// @notice Credits `amount` of the cash token to the sender's account.
    function deposit(uint256 amount) external;

    /// @notice Pays out `amount` of the sender's cash; needs cash >= amount and, with positions, equity >= IM.
    function withdraw(uint256 amount) external;

    /// @notice Takes a maker's signed order (EIP-712, ERC-1271 for contract makers); the sender is the
    ///         taker. Moves the premium and the positions, then checks both accounts' margin.
    function trade(Order calldata order, bytes calldata signature) external;

    /// @notice Invalidates one of the sender's order nonces.
    function cancelNonce(uint256 nonce) external;

    /// @notice Liquidates `fraction` (WAD, 0 < fraction <= maxLiquidationFraction) of an account below MM:
    ///         that fraction of every position moves to the sender's account at mark (the account receives
    ///         its mark value in cash, negative for shorts) and the sender receives a bonus of
    ///         LIQUIDATION_BONUS * fraction * MM from the account, capped by the account's positive
    ///         equity. The sender needs equity >= IM afterwards.
    function liquidate(address account, uint256 fraction) external;

    /// @notice Cash-settles an account's position in an expired series at the series' settlement price
    ///         (fixed by the first call for its market and expiry: the feed's answer, which must be
    ///         updated at or after the expiry and fresh). Anyone may call it.
    function settle(address account, uint256 seriesId) external;

    function seriesId(Series calldata series) external pure returns (uint256);
    function decodeSeries(uint256 id) external pure returns (Series memory);
    function positionsOf(address account) external view returns (Position[] memory);
    function cashOf(address account) external view returns (int256);
    function sizeOf(address account, uint256 id) external view returns (int256);
    function accountMargin(address account) external view returns (AccountMargin memory);
    /// @notice True when the account has positions and equity < MM.
    function isLiquidatable(address account) external view returns (bool);
    /// @notice The largest fraction a liquidation may take now (WAD): what brings the account back to its IM,
    ///         1 when that is more than all of it or the account's equity is not positive; 0 when not liquidatable.
    function maxLiquidationFraction(address account) external view returns (uint256);
    /// @notice The shocks a market's margin uses now, and whether they are the static grid's.
    function marketShocks(uint64 marketId) external view returns (Shocks memory shocks, bool staticGrid);
    /// @notice The validated feed spot of a market, WAD.
    function spotPrice(uint64 marketId) external view returns (uint256);
    /// @notice A fixed settlement price (0 until fixed).
    function settlementPrice(uint64 marketId, uint64 expiry) external view returns (uint256);
    function orderDigest(Order calldata order) external view returns (bytes32);
    function nonceUsed(address maker, uint256 nonce) external view returns (bool);
    function marketIds() external view returns (uint64[] memory);
}

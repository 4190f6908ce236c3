// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IERC20} from "@openzeppelin/contracts/token/ERC20/IERC20.sol";
import {IERC20Metadata} from "@openzeppelin/contracts/token/ERC20/extensions/IERC20Metadata.sol";
import {SafeERC20} from "@openzeppelin/contracts/token/ERC20/utils/SafeERC20.sol";
import {SafeCast} from "@openzeppelin/contracts/utils/math/SafeCast.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {SignatureChecker} from "@openzeppelin/contracts/utils/cryptography/SignatureChecker.sol";
import {AggregatorV3Interface} from "../interfaces/AggregatorV3Interface.sol";
import {IOptionsMarginEngine} from "../interfaces/IOptionsMarginEngine.sol";
import {IRiskParameterSource} from "../interfaces/IRiskParameterSource.sol";
import {PortfolioMargin} from "../libraries/PortfolioMargin.sol";
import {RiskLayouts} from "../libraries/RiskLayouts.sol";

/// @title OptionsMarginEngine
/// @notice Reference options consumer of the oracle's proved shocks (see IOptionsMarginEngine and
///         docs/options.md). Accounts, trades, liquidation and settlement here; the margin math in
///         PortfolioMargin and BlackScholes.
/// @dev Margin is checked on the state after a change (trades and liquidations write positions, then
///      revaluate; a failed check reverts the whole transaction). Every external call before a token
///      transfer is a view (staticcall), so none can re-enter.
contract OptionsMarginEngine is IOptionsMarginEngine, EIP712 {
    using SafeERC20 for IERC20;

    uint256 private constant WAD = 1e18;
    /// @notice Positions per account: bounds the gas of a margin check (about 0.17M per position for IM).
    uint256 public constant MAX_POSITIONS = 32;
    uint256 public constant MAX_MARKETS = 8;
    /// @notice Latest tradable expiry, from now.
    uint256 public constant MAX_EXPIRY_HORIZON = 365 days;
    /// @notice Bounds on strikes and feed prices (quote units per underlying, WAD) and sizes (contracts, WAD):
    ///         they keep every price, doubled by the largest spot shock, below BlackScholes.MAX_AMOUNT and every
    ///         product in the margin math far inside 256 bits.
    uint256 public constant MAX_PRICE = 1e29;
    uint256 public constant MAX_STRIKE = MAX_PRICE;
    uint256 public constant MAX_SIZE = 1e30;
    /// @notice Largest accepted liquidation bonus, as a fraction of the MM taken over.
    uint256 public constant MAX_LIQUIDATION_BONUS = 0.5e18;
    bytes32 public constant ORDER_TYPEHASH = keccak256(
        "Order(address maker,address taker,uint256 seriesId,int256 size,int256 premium,uint256 nonce,uint64 deadline)"
    );

    IERC20 public immutable CASH_TOKEN;
    IRiskParameterSource public immutable SOURCE;
    /// @notice Oldest accepted price, in seconds.
    uint256 public immutable MAX_PRICE_AGE;
    /// @notice Liquidator's bonus as a fraction (WAD) of the maintenance margin it takes over.
    uint256 public immutable LIQUIDATION_BONUS;

    uint64[] private _marketIds;
    mapping(uint64 marketId => AggregatorV3Interface) private _feeds;
    mapping(uint64 marketId => uint256) private _priceScale;
    mapping(uint64 marketId => mapping(uint64 expiry => uint256)) private _settlementPrices;

    mapping(address account => int256) private _cash;
    mapping(address account => uint256[]) private _seriesOf;
    mapping(address account => mapping(uint256 id => int256)) private _sizes;
    /// @dev index + 1 of a series in _seriesOf (0: no position).
    mapping(address account => mapping(uint256 id => uint256)) private _slots;
    mapping(address maker => mapping(uint256 nonce => bool)) private _nonces;

    /// @dev An account's positions with their marks, as one margin evaluation saw them.
    struct Book {
        uint256[] ids;
        int256[] sizes;
        uint256[] marks;
    }

    constructor(
        IERC20 cashToken,
        IRiskParameterSource source,
        MarketConfig[] memory markets,
        uint256 maxPriceAge,
        uint256 liquidationBonus
    ) EIP712("zkrisk OptionsMarginEngine", "1") {
        if (IERC20Metadata(address(cashToken)).decimals() != 18) revert UnsupportedToken(address(cashToken));
        if (markets.length == 0 || markets.length > MAX_MARKETS || liquidationBonus > MAX_LIQUIDATION_BONUS) {
            revert InvalidConfig();
        }
        for (uint256 i; i < markets.length; ++i) {
            MarketConfig memory m = markets[i];
            if (address(_feeds[m.marketId]) != address(0) || address(m.priceFeed) == address(0)) revert InvalidConfig();
            uint8 feedDecimals = m.priceFeed.decimals();
            if (feedDecimals > 18) revert InvalidConfig();
            _feeds[m.marketId] = m.priceFeed;
            _priceScale[m.marketId] = 10 ** (18 - feedDecimals);
            _marketIds.push(m.marketId);
        }
        CASH_TOKEN = cashToken;
        SOURCE = source;
        MAX_PRICE_AGE = maxPriceAge;
        LIQUIDATION_BONUS = liquidationBonus;
    }

    // ------------------------------------------------------------------ cash

    /// @inheritdoc IOptionsMarginEngine
    function deposit(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        _cash[msg.sender] += SafeCast.toInt256(amount);
        emit Deposited(msg.sender, amount);
        CASH_TOKEN.safeTransferFrom(msg.sender, address(this), amount);
    }

    /// @inheritdoc IOptionsMarginEngine
    function withdraw(uint256 amount) external {
        if (amount == 0) revert ZeroAmount();
        int256 cash = _cash[msg.sender];
        int256 signed = SafeCast.toInt256(amount);
        if (cash < signed) revert InsufficientCash(msg.sender, cash, amount);
        _cash[msg.sender] = cash - signed;
        if (_seriesOf[msg.sender].length != 0) _requireMargin(msg.sender, true);
        emit Withdrawn(msg.sender, amount);
        CASH_TOKEN.safeTransfer(msg.sender, amount);
    }

    // ----------------------------------------------------------------- trade

    /// @inheritdoc IOptionsMarginEngine
    function trade(Order calldata order, bytes calldata signature) external {
        address taker = msg.sender;
        if (order.taker != address(0) && order.taker != taker) revert WrongTaker(order.taker, taker);
        if (order.maker == taker) revert SelfTrade(taker);
        if (block.timestamp > order.deadline) revert OrderExpired(order.deadline);
        if (_nonces[order.maker][order.nonce]) revert NonceAlreadyUsed(order.maker, order.nonce);
        if (order.size == 0 || _abs(order.size) > MAX_SIZE) revert InvalidSize(order.size);
        _requireTradable(order.seriesId);
        if (!SignatureChecker.isValidSignatureNow(order.maker, _orderDigest(order), signature)) {
            revert InvalidSignature();
        }

        _nonces[order.maker][order.nonce] = true;
        bool makerAddsRisk = _move(order.maker, order.seriesId, order.size, order.premium);
        bool takerAddsRisk = _move(taker, order.seriesId, -order.size, -order.premium);
        emit Traded(order.maker, taker, order.seriesId, order.size, order.premium, order.nonce);

        _requireMargin(order.maker, makerAddsRisk);
        _requireMargin(taker, takerAddsRisk);
    }

    /// @inheritdoc IOptionsMarginEngine
    function cancelNonce(uint256 nonce) external {
        if (_nonces[msg.sender][nonce]) revert NonceAlreadyUsed(msg.sender, nonce);
        _nonces[msg.sender][nonce] = true;
        emit NonceCancelled(msg.sender, nonce);
    }

    // ----------------------------------------------------------- liquidation

    /// @inheritdoc IOptionsMarginEngine
    function liquidate(address account, uint256 fraction) external {
        address liquidator = msg.sender;
        if (account == liquidator) revert SelfLiquidation();
        (AccountMargin memory m, Book memory book) = _evaluate(account, true);
        if (!_liquidatable(m, book)) revert NotLiquidatable(account, m.equity, m.maintenanceMargin);
        uint256 maxFraction = _maxFraction(m);
        if (fraction == 0 || fraction > maxFraction) revert InvalidLiquidationFraction(fraction, maxFraction);

        int256 portionValue;
        for (uint256 i; i < book.ids.length; ++i) {
            int256 taken = fraction == WAD ? book.sizes[i] : book.sizes[i] * int256(fraction) / int256(WAD);
            if (taken == 0) continue;
            _setSize(account, book.ids[i], book.sizes[i] - taken);
            _setSize(liquidator, book.ids[i], _sizes[liquidator][book.ids[i]] + taken);
            portionValue += taken * int256(book.marks[i]) / int256(WAD);
        }
        uint256 bonus = LIQUIDATION_BONUS * fraction / WAD * m.maintenanceMargin / WAD;
        if (m.equity <= 0) bonus = 0;
        else if (bonus > uint256(m.equity)) bonus = uint256(m.equity);
        int256 paid = portionValue - int256(bonus); // liquidator -> account
        _cash[account] += paid;
        int256 liquidatorCash = _cash[liquidator];
        if (liquidatorCash - paid < 0) {
            revert InsufficientCash(liquidator, liquidatorCash, paid > 0 ? uint256(paid) : 0);
        }
        _cash[liquidator] = liquidatorCash - paid;
        emit Liquidated(account, liquidator, fraction, portionValue, bonus, m.staticGrid);

        _requireMargin(liquidator, true);
    }

    // ------------------------------------------------------------ settlement

    /// @inheritdoc IOptionsMarginEngine
    function settle(address account, uint256 id) external {
        int256 size = _sizes[account][id];
        if (size == 0) revert NoPosition(account, id);
        Series memory s = _decode(id);
        if (s.expiry > block.timestamp) revert SeriesNotExpired(id, s.expiry);
        uint256 price = _fixSettlementPrice(s.marketId, s.expiry);
        uint256 payoff =
            s.isCall ? (price > s.strike ? price - s.strike : 0) : (s.strike > price ? s.strike - price : 0);
        int256 cashFlow = size * int256(payoff) / int256(WAD);
        _setSize(account, id, 0);
        _cash[account] += cashFlow;
        emit Settled(account, id, size, cashFlow);
    }

    // ----------------------------------------------------------------- views

    /// @inheritdoc IOptionsMarginEngine
    function seriesId(Series calldata series) external pure returns (uint256) {
        if (series.strike >= 2 ** 127) revert InvalidStrike(series.strike);
        return uint256(series.marketId) << 192 | uint256(series.expiry) << 128 | uint256(series.strike) << 1
            | (series.isCall ? 1 : 0);
    }

    /// @inheritdoc IOptionsMarginEngine
    function decodeSeries(uint256 id) external pure returns (Series memory) {
        return _decode(id);
    }

    /// @inheritdoc IOptionsMarginEngine
    function positionsOf(address account) external view returns (Position[] memory positions) {
        uint256[] storage ids = _seriesOf[account];
        positions = new Position[](ids.length);
        for (uint256 i; i < ids.length; ++i) {
            positions[i] = Position({seriesId: ids[i], size: _sizes[account][ids[i]]});
        }
    }

    /// @inheritdoc IOptionsMarginEngine
    function cashOf(address account) external view returns (int256) {
        return _cash[account];
    }

    /// @inheritdoc IOptionsMarginEngine
    function sizeOf(address account, uint256 id) external view returns (int256) {
        return _sizes[account][id];
    }

    /// @inheritdoc IOptionsMarginEngine
    function accountMargin(address account) external view returns (AccountMargin memory m) {
        (m,) = _evaluate(account, true);
    }

    /// @inheritdoc IOptionsMarginEngine
    function isLiquidatable(address account) external view returns (bool) {
        (AccountMargin memory m, Book memory book) = _evaluate(account, false);
        return _liquidatable(m, book);
    }

    /// @inheritdoc IOptionsMarginEngine
    function maxLiquidationFraction(address account) external view returns (uint256) {
        (AccountMargin memory m, Book memory book) = _evaluate(account, true);
        return _liquidatable(m, book) ? _maxFraction(m) : 0;
    }

    /// @inheritdoc IOptionsMarginEngine
    function marketShocks(uint64 marketId) external view returns (Shocks memory, bool) {
        _feed(marketId);
        return _shocks(marketId);
    }

    /// @inheritdoc IOptionsMarginEngine
    function spotPrice(uint64 marketId) external view returns (uint256) {
        return _spot(marketId);
    }

    /// @inheritdoc IOptionsMarginEngine
    function settlementPrice(uint64 marketId, uint64 expiry) external view returns (uint256) {
        return _settlementPrices[marketId][expiry];
    }

    /// @inheritdoc IOptionsMarginEngine
    function orderDigest(Order calldata order) external view returns (bytes32) {
        return _orderDigest(order);
    }

    /// @inheritdoc IOptionsMarginEngine
    function nonceUsed(address maker, uint256 nonce) external view returns (bool) {
        return _nonces[maker][nonce];
    }

    /// @inheritdoc IOptionsMarginEngine
    function marketIds() external view returns (uint64[] memory) {
        return _marketIds;
    }

    // ------------------------------------------------------------- internals

    /// @dev Applies a trade leg to one account; returns whether it adds risk (|size| grows or flips).
    function _move(address account, uint256 id, int256 delta, int256 premium) private returns (bool addsRisk) {
        int256 cash = _cash[account];
        if (cash + premium < 0) revert InsufficientCash(account, cash, premium < 0 ? uint256(-premium) : 0);
        _cash[account] = cash + premium;
        int256 before = _sizes[account][id];
        int256 next = before + delta;
        if (_abs(next) > MAX_SIZE) revert InvalidSize(next);
        _setSize(account, id, next);
        addsRisk = _abs(next) > _abs(before) || (next != 0 && (next > 0) != (before > 0));
    }

    function _setSize(address account, uint256 id, int256 size) private {
        uint256 slot = _slots[account][id];
        if (slot == 0 && size != 0) {
            uint256[] storage ids = _seriesOf[account];
            if (ids.length == MAX_POSITIONS) revert TooManyPositions(account, MAX_POSITIONS);
            ids.push(id);
            _slots[account][id] = ids.length;
        } else if (slot != 0 && size == 0) {
            uint256[] storage ids = _seriesOf[account];
            uint256 last = ids[ids.length - 1];
            ids[slot - 1] = last;
            _slots[account][last] = slot;
            ids.pop();
            delete _slots[account][id];
        }
        _sizes[account][id] = size;
    }

    /// @dev Equity >= IM after a risk-adding change, >= MM after a reduction.
    function _requireMargin(address account, bool addsRisk) private view {
        (AccountMargin memory m,) = _evaluate(account, addsRisk);
        uint256 required = addsRisk ? m.initialMargin : m.maintenanceMargin;
        if (m.equity < int256(required)) revert InsufficientMargin(account, m.equity, required);
    }

    function _liquidatable(AccountMargin memory m, Book memory book) private pure returns (bool) {
        return book.ids.length != 0 && m.equity < int256(m.maintenanceMargin);
    }

    /// @dev Taking fraction f at mark with bonus b f MM leaves equity E - b f MM against IM (1 - f) IM (margins
    ///      are homogeneous in position sizes), so f = (IM - E) / (IM - b MM) restores the account to IM.
    function _maxFraction(AccountMargin memory m) private view returns (uint256) {
        uint256 bonusShare = LIQUIDATION_BONUS * m.maintenanceMargin / WAD;
        if (m.equity <= 0 || m.initialMargin <= bonusShare) return WAD;
        uint256 gap = m.initialMargin - uint256(m.equity);
        uint256 f = (gap * WAD + (m.initialMargin - bonusShare) - 1) / (m.initialMargin - bonusShare);
        return f > WAD ? WAD : f;
    }

    /// @dev Revaluates an account: per market, its positions' marks and margins on that market's grid.
    function _evaluate(address account, bool withInitial)
        private
        view
        returns (AccountMargin memory m, Book memory book)
    {
        book.ids = _seriesOf[account];
        uint256 n = book.ids.length;
        book.sizes = new int256[](n);
        book.marks = new uint256[](n);
        for (uint256 i; i < n; ++i) {
            book.sizes[i] = _sizes[account][book.ids[i]];
        }
        m.cash = _cash[account];
        for (uint256 k; k < _marketIds.length && n != 0; ++k) {
            _evaluateMarket(_marketIds[k], book, m, withInitial);
        }
        m.equity = m.cash + m.markValue;
    }

    function _evaluateMarket(uint64 marketId, Book memory book, AccountMargin memory m, bool withInitial)
        private
        view
    {
        uint256 n = book.ids.length;
        uint256 count;
        for (uint256 i; i < n; ++i) {
            if (uint64(book.ids[i] >> 192) == marketId) ++count;
        }
        if (count == 0) return;
        PortfolioMargin.Leg[] memory legs = new PortfolioMargin.Leg[](count);
        uint256[] memory index = new uint256[](count);
        uint256 j;
        for (uint256 i; i < n; ++i) {
            if (uint64(book.ids[i] >> 192) != marketId) continue;
            Series memory s = _decode(book.ids[i]);
            legs[j] = PortfolioMargin.Leg({
                expiry: s.expiry,
                strike: s.strike,
                isCall: s.isCall,
                size: book.sizes[i],
                settlementPrice: s.expiry <= block.timestamp ? _settlementPrices[marketId][s.expiry] : 0
            });
            index[j++] = i;
        }
        (Shocks memory shocks, bool isStatic) = _shocks(marketId);
        PortfolioMargin.Result memory r =
            PortfolioMargin.marketMargin(legs, _spot(marketId), shocks, block.timestamp, withInitial);
        m.markValue += r.markValue;
        m.initialMargin += r.initialMargin;
        m.maintenanceMargin += r.maintenanceMargin;
        m.staticGrid = m.staticGrid || isStatic;
        for (j = 0; j < count; ++j) {
            book.marks[index[j]] = r.marks[j];
        }
    }

    /// @dev The proved shocks when the source is live, fresh and sane; the static grid otherwise (paused,
    ///      stale, reverting, wrong length, or a value outside its sanity range), marking at the stored
    ///      reference vol when that one is sane.
    function _shocks(uint64 marketId) private view returns (Shocks memory s, bool isStatic) {
        bool usable;
        try SOURCE.getParameters(marketId, RiskLayouts.OPTIONS_MARGIN) returns (
            uint256[] memory v, uint64, uint64, uint32
        ) {
            if (v.length == RiskLayouts.OPTIONS_MARGIN_OUTPUTS) {
                s = Shocks({
                    spotDown: v[RiskLayouts.OPTIONS_MARGIN_SPOT_DOWN],
                    spotUp: v[RiskLayouts.OPTIONS_MARGIN_SPOT_UP],
                    ivUp: v[RiskLayouts.OPTIONS_MARGIN_IV_UP],
                    ivDown: v[RiskLayouts.OPTIONS_MARGIN_IV_DOWN],
                    refIv: v[RiskLayouts.OPTIONS_MARGIN_REF_IV]
                });
                usable = true;
            }
        } catch {}
        if (usable && _sourceLive(marketId) && PortfolioMargin.isSane(s)) return (s, false);
        return (PortfolioMargin.staticShocks(s.refIv), true);
    }

    function _sourceLive(uint64 marketId) private view returns (bool) {
        try SOURCE.paused() returns (bool isPaused) {
            if (isPaused) return false;
        } catch {
            return false;
        }
        try SOURCE.isStale(marketId, RiskLayouts.OPTIONS_MARGIN) returns (bool stale) {
            return !stale;
        } catch {
            return false;
        }
    }

    function _requireTradable(uint256 id) private view {
        Series memory s = _decode(id);
        _feed(s.marketId);
        if (s.strike == 0 || s.strike > MAX_STRIKE) revert InvalidStrike(s.strike);
        if (s.expiry <= block.timestamp) revert SeriesExpired(id, s.expiry);
        uint256 latest = block.timestamp + MAX_EXPIRY_HORIZON;
        if (s.expiry > latest) revert ExpiryTooFar(s.expiry, latest);
    }

    function _fixSettlementPrice(uint64 marketId, uint64 expiry) private returns (uint256 price) {
        price = _settlementPrices[marketId][expiry];
        if (price != 0) return price;
        (uint256 answer, uint256 updatedAt) = _read(marketId);
        if (updatedAt < expiry) revert SettlementPriceUnavailable(marketId, expiry, updatedAt);
        _settlementPrices[marketId][expiry] = answer;
        emit SettlementPriceFixed(marketId, expiry, answer);
        return answer;
    }

    /// @dev Feed spot in WAD; refuses non-positive, absurd (> MAX_PRICE) and stale answers rather than guessing.
    function _spot(uint64 marketId) private view returns (uint256 price) {
        (price,) = _read(marketId);
    }

    function _read(uint64 marketId) private view returns (uint256 price, uint256 updatedAt) {
        int256 answer;
        (, answer,, updatedAt,) = _feed(marketId).latestRoundData();
        if (answer <= 0 || uint256(answer) > MAX_PRICE / _priceScale[marketId]) revert InvalidPrice(marketId, answer);
        if (updatedAt == 0 || block.timestamp - updatedAt > MAX_PRICE_AGE) revert StalePrice(marketId, updatedAt);
        price = uint256(answer) * _priceScale[marketId];
    }

    function _feed(uint64 marketId) private view returns (AggregatorV3Interface feed) {
        feed = _feeds[marketId];
        if (address(feed) == address(0)) revert UnknownMarket(marketId);
    }

    function _orderDigest(Order calldata o) private view returns (bytes32) {
        return _hashTypedDataV4(
            keccak256(abi.encode(ORDER_TYPEHASH, o.maker, o.taker, o.seriesId, o.size, o.premium, o.nonce, o.deadline))
        );
    }

    function _decode(uint256 id) private pure returns (Series memory) {
        return Series({
            marketId: uint64(id >> 192),
            expiry: uint64(id >> 128),
            strike: uint128(id >> 1) & type(uint128).max >> 1,
            isCall: id & 1 == 1
        });
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x < 0 ? uint256(-x) : uint256(x);
    }
}

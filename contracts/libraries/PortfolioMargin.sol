// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SD59x18, ln, pow} from "@prb/math/src/SD59x18.sol";
import {IOptionsMarginEngine} from "../interfaces/IOptionsMarginEngine.sol";
import {BlackScholes} from "./BlackScholes.sol";

/// @title PortfolioMargin
/// @notice Scenario-grid portfolio margin of the options in one market (docs/options.md has the why of
///         every number; models/options.py is the float reference and a test checks the two agree).
///
///         Grid. Spot moves x_p = f_p * spotDown (falls) or f_p * spotUp (rises) with
///         f = (-1, -F, -F/2, 0, F/2, F, 1), F = INNER_SPOT_FRACTION, crossed with four implied-vol levels per
///         leg: reference, up, down, IM up. The vol of a leg is the market's reference vol (flat smile: one
///         vol for every strike, a simplification); its shocks are the relative 30-day shocks scaled for the
///         leg's time to expiry T (Deribit / Derive):
///
///             m(T) = (30 days / max(T, 1 day)) ^ p,   p = 0.3 if T < 30 days else 0.13
///             up = ref * (1 + ivUp * m),   down = ref * max(1 - ivDown * m, VOL_DOWN_FLOOR)
///             IM up = max(up, MIN_VOL_FOR_SHOCK_UP)
///
///         Every scenario revalues the leg MARGIN_HORIZON later, at T - 1 day (at its payoff if it expires
///         within the horizon): the proved shocks are one-day moves, and the day's time decay is part of the
///         day's loss (CME SPAN's look-ahead time).
///
///         Scenarios. The maintenance grid is the proved one-day 99% grid as it is: all 7 spot points x
///         (ref, up, down) = 21. The initial grid adds IM up x all 7 points (28 in all), so IM >= MM holds by
///         construction, scenario by scenario.
///
///         Margin. loss(s) = sum over legs of size * (mark - value in s), mark = Black-Scholes at spot, the
///         reference vol and T. IM = max(0, max over IM scenarios of loss) + C, C = SHORT_CONTINGENCY * spot *
///         (contracts short, unsettled legs): a charge per short contract (Deribit's 0.01 per net short option)
///         for opening risk. MM = max(0, max over MM scenarios of loss, MM_CONTINGENCY_FLOOR * C): a short
///         whose day of time decay offsets every scenario (a last-days straddle on a calm grid) still needs
///         margin and pays a liquidation bonus, and IM - MM >= C / 2.
///
///         Expired legs are worth their intrinsic value at the fixed settlement price (no risk left) or,
///         until it is fixed, at the scenario spot.
library PortfolioMargin {
    uint256 internal constant WAD = 1e18;

    /// @notice Spot points per market and implied-vol levels per leg.
    uint256 internal constant SPOT_POINTS = 7;
    uint256 internal constant VOL_LEVELS = 4;
    uint256 internal constant SCENARIOS = SPOT_POINTS * VOL_LEVELS;
    /// @notice Vol level indices: scenario s = level * SPOT_POINTS + point; point 3 is no spot move.
    uint256 internal constant VOL_REF = 0;
    uint256 internal constant VOL_UP = 1;
    uint256 internal constant VOL_DOWN = 2;
    uint256 internal constant VOL_IM_UP = 3;
    uint256 internal constant SPOT_CENTRE = 3;
    /// @notice MM takes the first MM_LEVELS vol levels (ref, up, down) at every spot point; IM every scenario.
    uint256 internal constant MM_LEVELS = 3;
    /// @notice The same scenario sets as bit masks over s.
    uint256 internal constant IM_GRID = (1 << SCENARIOS) - 1;
    uint256 internal constant MM_GRID = (1 << (MM_LEVELS * SPOT_POINTS)) - 1;

    /// @notice Scenarios revalue every leg this much later: the horizon of the proved one-day shocks.
    uint256 internal constant MARGIN_HORIZON = 1 days;
    /// @notice Inner spot points as a fraction of the shock (and half of it), for losses that peak inside it.
    uint256 internal constant INNER_SPOT_FRACTION = 0.7e18;
    /// @notice IM per short contract of an unsettled leg, as a fraction of spot.
    uint256 internal constant SHORT_CONTINGENCY = 0.01e18;
    /// @notice MM is at least this fraction of the short contingency.
    uint256 internal constant MM_CONTINGENCY_FLOOR = 0.5e18;

    /// @notice Time-to-expiry scaling of vol shocks: (REFERENCE_TENOR / max(T, DTE_FLOOR)) ^ power.
    uint256 internal constant REFERENCE_TENOR = 30 days;
    uint256 internal constant DTE_FLOOR = 1 days;
    uint256 internal constant SHORT_TERM_POWER = 0.3e18;
    uint256 internal constant LONG_TERM_POWER = 0.13e18;
    /// @notice The IM vol-up scenario is at least this vol (Deribit's min_volatility_for_shock_up).
    uint256 internal constant MIN_VOL_FOR_SHOCK_UP = 0.5e18;
    /// @notice A vol-down scenario keeps at least this fraction of the reference vol.
    uint256 internal constant VOL_DOWN_FLOOR = 0.1e18;

    /// @notice Static conservative grid (Deribit BTC portfolio margin): +-16% spot, vol up 50%, down 25%.
    uint256 internal constant STATIC_SPOT_SHOCK = 0.16e18;
    uint256 internal constant STATIC_IV_UP = 0.5e18;
    uint256 internal constant STATIC_IV_DOWN = 0.25e18;
    /// @notice Reference vol of the static grid when the source has no sane stored reference vol.
    uint256 internal constant STATIC_REF_IV = 0.8e18;

    /// @notice Sanity ranges of proved values; a value outside means a broken source (static grid).
    uint256 internal constant MIN_SPOT_SHOCK = 0.005e18;
    uint256 internal constant MAX_SPOT_DOWN = 0.5e18;
    uint256 internal constant MAX_SPOT_UP = 1e18;
    uint256 internal constant MAX_IV_UP = 3e18;
    uint256 internal constant MAX_IV_DOWN = 0.9e18;
    uint256 internal constant MIN_REF_IV = 0.05e18;
    uint256 internal constant MAX_REF_IV = 3e18;

    /// @notice One position of the market: `size` contracts (WAD, negative = short) of a European option.
    ///         `settlementPrice` is the fixed settlement price of an expired series, 0 until fixed.
    struct Leg {
        uint256 expiry;
        uint256 strike;
        bool isCall;
        int256 size;
        uint256 settlementPrice;
    }

    /// @notice markValue: sum of size * mark; marks: per-contract mark of each leg (input order).
    ///         initialMargin is computed only when asked for (0 otherwise).
    struct Result {
        int256 markValue;
        uint256 initialMargin;
        uint256 maintenanceMargin;
        uint256[] marks;
    }

    /// @notice True when every proved value lies in its sanity range.
    function isSane(IOptionsMarginEngine.Shocks memory s) internal pure returns (bool) {
        return s.spotDown >= MIN_SPOT_SHOCK && s.spotDown <= MAX_SPOT_DOWN && s.spotUp >= MIN_SPOT_SHOCK
            && s.spotUp <= MAX_SPOT_UP && s.ivUp <= MAX_IV_UP && s.ivDown <= MAX_IV_DOWN && saneRefIv(s.refIv);
    }

    function saneRefIv(uint256 refIv) internal pure returns (bool) {
        return refIv >= MIN_REF_IV && refIv <= MAX_REF_IV;
    }

    /// @notice The static grid, marking at `storedRefIv` when it is sane (so marks do not jump when the
    ///         source goes stale) and at STATIC_REF_IV otherwise.
    function staticShocks(uint256 storedRefIv) internal pure returns (IOptionsMarginEngine.Shocks memory) {
        return IOptionsMarginEngine.Shocks({
            spotDown: STATIC_SPOT_SHOCK,
            spotUp: STATIC_SPOT_SHOCK,
            ivUp: STATIC_IV_UP,
            ivDown: STATIC_IV_DOWN,
            refIv: saneRefIv(storedRefIv) ? storedRefIv : STATIC_REF_IV
        });
    }

    /// @notice m(T) of the vol shocks (WAD) for `secondsToExpiry` > 0.
    function volMultiplier(uint256 secondsToExpiry) internal pure returns (uint256) {
        uint256 t = secondsToExpiry < DTE_FLOOR ? DTE_FLOOR : secondsToExpiry;
        uint256 power = secondsToExpiry < REFERENCE_TENOR ? SHORT_TERM_POWER : LONG_TERM_POWER;
        return uint256(pow(SD59x18.wrap(int256(REFERENCE_TENOR * WAD / t)), SD59x18.wrap(int256(power))).unwrap());
    }

    /// @notice The vols of a leg expiring in `secondsToExpiry` > 0 (VOL_* order).
    function scenarioVols(IOptionsMarginEngine.Shocks memory s, uint256 secondsToExpiry)
        internal
        pure
        returns (uint256[VOL_LEVELS] memory v)
    {
        uint256 m = volMultiplier(secondsToExpiry);
        v[VOL_REF] = s.refIv;
        v[VOL_UP] = s.refIv * (WAD + s.ivUp * m / WAD) / WAD;
        v[VOL_DOWN] = s.refIv * _downFactor(s.ivDown * m / WAD) / WAD;
        v[VOL_IM_UP] = _max(v[VOL_UP], MIN_VOL_FOR_SHOCK_UP);
    }

    /// @notice Relative spot move of each point (WAD, signed).
    function spotMoves(IOptionsMarginEngine.Shocks memory s) internal pure returns (int256[SPOT_POINTS] memory x) {
        int256 inner = int256(INNER_SPOT_FRACTION);
        int256 down = int256(s.spotDown);
        int256 up = int256(s.spotUp);
        int256 w = int256(WAD);
        x[0] = -down;
        x[1] = -down * inner / w;
        x[2] = -down * inner / (2 * w);
        x[4] = up * inner / (2 * w);
        x[5] = up * inner / w;
        x[6] = up;
    }

    /// @notice Portfolio loss against its mark in every scenario (s = level * SPOT_POINTS + point; 0 where
    ///         not evaluated: the IM-only scenarios unless `withInitial`), the mark value and per-leg marks.
    function scenarioLosses(
        Leg[] memory legs,
        uint256 spot,
        IOptionsMarginEngine.Shocks memory s,
        uint256 timestamp,
        bool withInitial
    )
        internal
        pure
        returns (int256[SCENARIOS] memory losses, int256 markValue, uint256[] memory marks)
    {
        Points memory points = _points(spot, s);
        marks = new uint256[](legs.length);
        for (uint256 i; i < legs.length; ++i) {
            Leg memory leg = legs[i];
            uint256 mark = leg.expiry <= timestamp
                ? _addExpiredLeg(losses, leg, points, withInitial)
                : _addLiveLeg(losses, leg, points, s, leg.expiry - timestamp, withInitial);
            marks[i] = mark;
            markValue += leg.size * int256(mark) / int256(WAD);
        }
    }

    /// @notice Mark value, IM (when `withInitial`), MM and per-leg marks of one market's legs.
    function marketMargin(
        Leg[] memory legs,
        uint256 spot,
        IOptionsMarginEngine.Shocks memory s,
        uint256 timestamp,
        bool withInitial
    )
        internal
        pure
        returns (Result memory r)
    {
        int256[SCENARIOS] memory losses;
        (losses, r.markValue, r.marks) = scenarioLosses(legs, spot, s, timestamp, withInitial);
        int256 worstInitial;
        int256 worstMaintenance;
        for (uint256 level; level < VOL_LEVELS; ++level) {
            for (uint256 p; p < SPOT_POINTS; ++p) {
                int256 loss = losses[level * SPOT_POINTS + p];
                uint256 bit = 1 << (level * SPOT_POINTS + p);
                if (IM_GRID & bit != 0 && loss > worstInitial) worstInitial = loss;
                if (MM_GRID & bit != 0 && loss > worstMaintenance) worstMaintenance = loss;
            }
        }
        uint256 contingency = shortContingency(legs, spot);
        r.maintenanceMargin = _max(uint256(worstMaintenance), contingency * MM_CONTINGENCY_FLOOR / WAD);
        if (withInitial) r.initialMargin = uint256(worstInitial) + contingency;
    }

    /// @notice SHORT_CONTINGENCY * spot per short contract of the legs not yet settled.
    function shortContingency(Leg[] memory legs, uint256 spot) internal pure returns (uint256 contracts) {
        for (uint256 i; i < legs.length; ++i) {
            if (legs[i].size < 0 && legs[i].settlementPrice == 0) contracts += uint256(-legs[i].size);
        }
        return contracts * spot / WAD * SHORT_CONTINGENCY / WAD;
    }

    /// @dev Spot and ln(1 + x) of every spot point of a market.
    struct Points {
        uint256 spot;
        uint256[SPOT_POINTS] spots;
        int256[SPOT_POINTS] logMoves;
    }

    function _points(uint256 spot, IOptionsMarginEngine.Shocks memory s) private pure returns (Points memory points) {
        int256[SPOT_POINTS] memory moves = spotMoves(s);
        points.spot = spot;
        for (uint256 p; p < SPOT_POINTS; ++p) {
            uint256 factor = uint256(int256(WAD) + moves[p]);
            points.spots[p] = spot * factor / WAD;
            if (p != SPOT_CENTRE) points.logMoves[p] = ln(SD59x18.wrap(int256(factor))).unwrap();
        }
    }

    /// @dev Adds a live leg's loss in every evaluated scenario (the MM levels' rows, or every row for IM); returns
    ///      its mark.
    function _addLiveLeg(
        int256[SCENARIOS] memory losses,
        Leg memory leg,
        Points memory points,
        IOptionsMarginEngine.Shocks memory s,
        uint256 secondsToExpiry,
        bool withInitial
    ) private pure returns (uint256 mark) {
        int256 logSK = BlackScholes.logMoneyness(points.spot, leg.strike);
        uint256[VOL_LEVELS] memory vols = scenarioVols(s, secondsToExpiry);
        mark = _price(leg.isCall, points.spot, leg.strike, logSK, vols[VOL_REF] * _sqrtYears(secondsToExpiry) / WAD);
        // zero after expiry within the horizon: the price is then the payoff
        uint256 sqrtAfter = secondsToExpiry > MARGIN_HORIZON ? _sqrtYears(secondsToExpiry - MARGIN_HORIZON) : 0;
        // where the floor does not bind IM up is the up level: its losses are added with it, not repriced
        bool imUpIsUp = withInitial && vols[VOL_IM_UP] == vols[VOL_UP];
        uint256 levels = withInitial ? VOL_LEVELS : MM_LEVELS;
        for (uint256 level; level < levels; ++level) {
            if (level == VOL_IM_UP && imUpIsUp) continue;
            _addLevel(losses, level, level == VOL_UP && imUpIsUp, leg, points, logSK, vols[level] * sqrtAfter / WAD, mark);
        }
    }

    /// @dev One vol level of a live leg: its loss at every spot point, added to the level's row and, with
    ///      `alsoImUp`, to the IM up row too.
    function _addLevel(
        int256[SCENARIOS] memory losses,
        uint256 level,
        bool alsoImUp,
        Leg memory leg,
        Points memory points,
        int256 logSK,
        uint256 vTotal,
        uint256 mark
    ) private pure {
        for (uint256 p; p < SPOT_POINTS; ++p) {
            uint256 value = _price(leg.isCall, points.spots[p], leg.strike, logSK + points.logMoves[p], vTotal);
            int256 loss = _loss(leg.size, mark, value);
            losses[level * SPOT_POINTS + p] += loss;
            if (alsoImUp) losses[VOL_IM_UP * SPOT_POINTS + p] += loss;
        }
    }

    /// @dev An expired leg: worth its intrinsic value at the fixed settlement price (nothing at risk) or,
    ///      before the price is fixed, at the scenario spot. Returns its mark.
    function _addExpiredLeg(int256[SCENARIOS] memory losses, Leg memory leg, Points memory points, bool withInitial)
        private
        pure
        returns (uint256 mark)
    {
        if (leg.settlementPrice != 0) return _intrinsic(leg, leg.settlementPrice);
        mark = _intrinsic(leg, points.spot);
        uint256 mask = withInitial ? IM_GRID : MM_GRID;
        for (uint256 sc; sc < SCENARIOS; ++sc) {
            if ((mask >> sc) & 1 == 0) continue;
            losses[sc] += _loss(leg.size, mark, _intrinsic(leg, points.spots[sc % SPOT_POINTS]));
        }
    }

    /// @dev sqrt(seconds in 365-day years), WAD.
    function _sqrtYears(uint256 secondsToExpiry) private pure returns (uint256) {
        return BlackScholes.sqrtWad(secondsToExpiry * WAD / BlackScholes.SECONDS_PER_YEAR);
    }

    /// @dev size * (mark - value), WAD, rounded toward zero.
    function _loss(int256 size, uint256 mark, uint256 value) private pure returns (int256) {
        return size * (int256(mark) - int256(value)) / int256(WAD);
    }

    function _price(bool isCall, uint256 spot, uint256 strike, int256 logSK, uint256 vTotal)
        private
        pure
        returns (uint256)
    {
        uint256 c = BlackScholes.call(spot, strike, logSK, vTotal);
        return isCall ? c : BlackScholes.putFromCall(spot, strike, c);
    }

    function _intrinsic(Leg memory leg, uint256 price) private pure returns (uint256) {
        if (leg.isCall) return price > leg.strike ? price - leg.strike : 0;
        return leg.strike > price ? leg.strike - price : 0;
    }

    function _downFactor(uint256 shock) private pure returns (uint256) {
        return shock + VOL_DOWN_FLOOR >= WAD ? VOL_DOWN_FLOOR : WAD - shock;
    }

    function _max(uint256 a, uint256 b) private pure returns (uint256) {
        return a > b ? a : b;
    }
}

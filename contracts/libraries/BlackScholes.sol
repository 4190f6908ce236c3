// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {SD59x18, exp, ln, sqrt as sqrtSigned} from "@prb/math/src/SD59x18.sol";

/// @title BlackScholes
/// @notice European option prices and Greeks in WAD fixed point (1e18 = 1.0), with a zero interest rate:
///         options settle in a stablecoin and the engine marks them against spot (the forward basis of a
///         stablecoin-margined crypto option is small next to the margin shocks; see docs/options.md).
///
///             call = S N(d1) - K N(d2),  put = call - S + K   (put-call parity at r = 0)
///             d1 = (ln(S/K) + v^2 / 2) / v,  d2 = d1 - v,  v = sigma sqrt(T)  ("total vol")
///             call delta = N(d1), put delta = N(d1) - 1, vega = S phi(d1) sqrt(T) (per 1.0 of vol)
///
///         ln, exp and sqrt come from PRBMath (the npm package prb/math, SD59x18). The normal CDF is
///         Hart's rational approximation (J. F. Hart et al., Computer Approximations, 1968, algorithm
///         5666, in the form of G. West, "Better approximations to cumulative normal functions", 2005):
///         for |x| < 7.07 the upper tail is exp(-x^2/2) P(|x|) / Q(|x|) with degree-6/7 polynomials,
///         beyond it a continued fraction, and beyond |x| = 9 the tail (< 1.2e-19) is below one WAD unit.
///         Measured against scipy's ndtr over [-12, 12] (tests/contracts/test_options_math.py) the
///         absolute error is 2.2e-16 (float64's own resolution); the tests assert 1e-15. Prices agree with
///         scipy to 1.5e-16 of S + K over spot 1..1e6, K/S 0.25..4, vol 5%..300%, one hour..two years.
/// @dev Prices are clamped to their no-arbitrage bounds max(S - K, 0) <= call <= S, which also keeps
///      put >= max(K - S, 0); rounding alone could otherwise leave them a few units outside.
library BlackScholes {
    int256 internal constant WAD = 1e18;
    /// @notice Spots and strikes must stay below this (2^100, about 1.3e30 in WAD: 1.3e12 quote units).
    uint256 internal constant MAX_AMOUNT = 2 ** 100;
    uint256 internal constant SECONDS_PER_YEAR = 365 days;
    /// @dev sqrt(2 pi), WAD.
    uint256 internal constant SQRT_TWO_PI = 2_506628274631000502;
    /// @dev Hart's rational approximation holds below 1/sqrt(2) * 10; the continued fraction above.
    uint256 internal constant RATIONAL_LIMIT = 7_071067811865470000;
    /// @dev N(-9) = 1.1e-19: beyond this the tail rounds to zero in WAD.
    uint256 internal constant TAIL_ZERO = 9e18;
    /// @dev exp(-z^2 / 2) < 1e-18 beyond z = 9.1; also keeps z^2 far from overflow.
    uint256 internal constant GAUSS_ZERO = 10e18;

    // Hart 5666 numerator P(z) = sum P_i z^i and denominator Q(z) = sum Q_i z^i, WAD.
    uint256 private constant P0 = 220_206867912376000000;
    uint256 private constant P1 = 221_213596169931000000;
    uint256 private constant P2 = 112_079291497871000000;
    uint256 private constant P3 = 33_912866078383000000;
    uint256 private constant P4 = 6_373962203531650000;
    uint256 private constant P5 = 700383064443688000;
    uint256 private constant P6 = 35262496599891100;
    uint256 private constant Q0 = 440_413735824752000000;
    uint256 private constant Q1 = 793_826512519948000000;
    uint256 private constant Q2 = 637_333633378831000000;
    uint256 private constant Q3 = 296_564248779674000000;
    uint256 private constant Q4 = 86_780732202946100000;
    uint256 private constant Q5 = 16_064177579207000000;
    uint256 private constant Q6 = 1_755667163182640000;
    uint256 private constant Q7 = 88388347648318400;

    /// @notice Years (WAD) from `timestamp` to `expiry` (365-day years); zero at or after expiry.
    function yearsToExpiry(uint256 timestamp, uint256 expiry) internal pure returns (uint256) {
        return expiry > timestamp ? (expiry - timestamp) * uint256(WAD) / SECONDS_PER_YEAR : 0;
    }

    /// @notice sigma * sqrt(T), WAD.
    function totalVol(uint256 vol, uint256 tau) internal pure returns (uint256) {
        return vol * sqrtWad(tau) / uint256(WAD);
    }

    /// @notice sqrt of a WAD value, WAD.
    function sqrtWad(uint256 x) internal pure returns (uint256) {
        return uint256(sqrtSigned(SD59x18.wrap(int256(x))).unwrap());
    }

    /// @notice ln(S / K), WAD. Both must be positive.
    function logMoneyness(uint256 spot, uint256 strike) internal pure returns (int256) {
        return ln(SD59x18.wrap(int256(spot * uint256(WAD) / strike))).unwrap();
    }

    /// @notice Call price for spot, strike, annualised vol and years to expiry tau (all WAD).
    function callPrice(uint256 spot, uint256 strike, uint256 vol, uint256 tau) internal pure returns (uint256) {
        if (spot == 0 || strike == 0) return spot;
        return call(spot, strike, logMoneyness(spot, strike), totalVol(vol, tau));
    }

    /// @notice Put price, by parity from the call.
    function putPrice(uint256 spot, uint256 strike, uint256 vol, uint256 tau) internal pure returns (uint256) {
        return putFromCall(spot, strike, callPrice(spot, strike, vol, tau));
    }

    /// @notice Call price from precomputed ln(S/K) and total vol: the margin engine's inner loop, which
    ///         reuses ln(S/K) across scenarios (ln(S (1 + x) / K) = ln(S/K) + ln(1 + x)).
    /// @dev One exp per price: d2^2 / 2 = d1^2 / 2 - ln(S/K), so exp(-d2^2 / 2) = exp(-d1^2 / 2) * S / K.
    ///      The error this carries into K N(d2) is at most S * 1e-18 (one unit of exp(-d1^2 / 2), times
    ///      S / K, times K), whatever the moneyness. Domain: spot, strike < MAX_AMOUNT (unchecked products).
    function call(uint256 spot, uint256 strike, int256 logSK, uint256 vTotal) internal pure returns (uint256 price) {
        uint256 intrinsic = spot > strike ? spot - strike : 0;
        if (vTotal == 0) return intrinsic;
        (int256 d1, int256 d2) = _d1d2(logSK, vTotal);
        // unchecked: g1, N <= 1e18 and spot, strike < 2^100, so no product reaches 2^160.
        unchecked {
            uint256 g1 = _gauss(_abs(d1));
            uint256 g2 = g1 * spot / strike;
            if (g2 > uint256(WAD)) g2 = uint256(WAD);
            uint256 a = spot * _cdf(d1, g1) / uint256(WAD);
            uint256 b = strike * _cdf(d2, g2) / uint256(WAD);
            price = a > b ? a - b : 0;
        }
        if (price < intrinsic) price = intrinsic;
        if (price > spot) price = spot;
    }

    /// @notice Put-call parity at r = 0: put = call - S + K. Never negative for a call within its bounds.
    function putFromCall(uint256 spot, uint256 strike, uint256 callValue) internal pure returns (uint256) {
        return callValue + strike - spot;
    }

    /// @notice Call delta N(d1) (WAD); the put's is N(d1) - 1. At expiry: 1 in the money, 0 otherwise.
    function callDelta(uint256 spot, uint256 strike, uint256 vol, uint256 tau) internal pure returns (uint256) {
        uint256 vTotal = totalVol(vol, tau);
        if (vTotal == 0) return spot > strike ? uint256(WAD) : 0;
        (int256 d1,) = _d1d2(logMoneyness(spot, strike), vTotal);
        return normCdf(d1);
    }

    /// @notice Put delta N(d1) - 1 (WAD, negative).
    function putDelta(uint256 spot, uint256 strike, uint256 vol, uint256 tau) internal pure returns (int256) {
        return int256(callDelta(spot, strike, vol, tau)) - WAD;
    }

    /// @notice Vega S phi(d1) sqrt(T): price change per 1.0 (100 points) of vol, the same for calls and puts.
    function vega(uint256 spot, uint256 strike, uint256 vol, uint256 tau) internal pure returns (uint256) {
        uint256 sqrtT = sqrtWad(tau);
        uint256 vTotal = vol * sqrtT / uint256(WAD);
        if (vTotal == 0) return 0;
        (int256 d1,) = _d1d2(logMoneyness(spot, strike), vTotal);
        return spot * normPdf(d1) / uint256(WAD) * sqrtT / uint256(WAD);
    }

    /// @notice Standard normal density, WAD.
    function normPdf(int256 x) internal pure returns (uint256) {
        return _gauss(_abs(x)) * uint256(WAD) / SQRT_TWO_PI;
    }

    /// @notice Standard normal CDF, WAD (see the library notes for the method and its error).
    function normCdf(int256 x) internal pure returns (uint256) {
        return _cdf(x, _gauss(_abs(x)));
    }

    /// @dev N(x) given g = exp(-x^2 / 2).
    function _cdf(int256 x, uint256 g) private pure returns (uint256) {
        uint256 z = _abs(x);
        if (z >= TAIL_ZERO) return x < 0 ? 0 : uint256(WAD);
        uint256 tail = _upperTail(z, g);
        return x < 0 ? tail : uint256(WAD) - tail;
    }

    /// @dev 1 - N(z) for 0 <= z < TAIL_ZERO, given g = exp(-z^2 / 2) <= 1.
    function _upperTail(uint256 z, uint256 g) private pure returns (uint256) {
        // unchecked: z < 9e18 and every coefficient < 1e21, so no product reaches 1e40.
        unchecked {
            uint256 w = uint256(WAD);
            if (z < RATIONAL_LIMIT) {
                uint256 p = P6;
                p = p * z / w + P5;
                p = p * z / w + P4;
                p = p * z / w + P3;
                p = p * z / w + P2;
                p = p * z / w + P1;
                p = p * z / w + P0;
                uint256 q = Q7;
                q = q * z / w + Q6;
                q = q * z / w + Q5;
                q = q * z / w + Q4;
                q = q * z / w + Q3;
                q = q * z / w + Q2;
                q = q * z / w + Q1;
                q = q * z / w + Q0;
                return g * p / q;
            }
            // Continued fraction z + 1/(z + 2/(z + 3/(z + 4/(z + 0.65)))), then g / (sqrt(2 pi) * f).
            uint256 f = z + 0.65e18;
            f = z + 4e36 / f;
            f = z + 3e36 / f;
            f = z + 2e36 / f;
            f = z + 1e36 / f;
            return g * w / (f * SQRT_TWO_PI / w);
        }
    }

    /// @dev exp(-z^2 / 2), WAD, for z >= 0 (0 once it is below one unit: z > 9.1).
    function _gauss(uint256 z) private pure returns (uint256) {
        if (z >= GAUSS_ZERO) return 0;
        return uint256(exp(SD59x18.wrap(-int256(z * z / 2e18))).unwrap());
    }

    function _d1d2(int256 logSK, uint256 vTotal) private pure returns (int256 d1, int256 d2) {
        int256 v = int256(vTotal);
        d1 = (logSK + v * v / (2 * WAD)) * WAD / v;
        d2 = d1 - v;
    }

    function _abs(int256 x) private pure returns (uint256) {
        return x < 0 ? uint256(-x) : uint256(x);
    }
}

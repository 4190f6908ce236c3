// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IRiskParameterSource} from "./IRiskParameterSource.sol";

/// @title IRiskOracle
/// @notice Proved risk parameters per market, grouped by output layout. An update is permissionless
///         and carries everything that makes it true in one transaction: a report of the input data
///         signed by k of the n registered publishers (EIP-712), and a zk proof that the parameters are
///         the registered model's exact output on that data. Guardrails (bounds and per-direction step
///         limits per market and parameter, as Aave's RiskSteward) are defence in depth against a wrong
///         model: the proved policy's own steps always pass them, so they never freeze a market.
///         Governance (a timelock) owns layouts, models, publishers, guardrails and timing.
/// @dev Layouts are declared once in models/spec.py; contracts/libraries/RiskLayouts.sol is generated
///      from it. Every value is a non-negative fixed-point number; the oracle stores the proof's raw
///      fixed-point integers (`scale` fraction bits, 24 bits each, so below 2^(24 - scale)) and serves
///      WAD (1e18 = 1.0).
interface IRiskOracle is IRiskParameterSource {
    /// @notice An output layout: what a model version publishes per market, in instance order.
    /// @param scale Fraction bits of every output and of the stored values.
    /// @param parameterIds Global parameter id of each output, in instance order.
    /// @param stateIndices Outputs fed back as policy state: the proof takes their previously stored
    ///        values as inputs and passes them through after the outputs, and the oracle checks them.
    /// @param initialState Fixed-point state a market starts from before its first update of the layout.
    struct Layout {
        uint8 scale;
        uint16[] parameterIds;
        uint8[] stateIndices;
        uint24[] initialState;
    }

    /// @notice A registered model (circuit). `vkaPointer` is zero for a plain verifier with a baked-in key.
    /// @param inputScale Fraction bits of the proof's inputs: the passed-through state is the stored state
    ///        rounded to this scale, so it is checked within half a unit of it.
    struct Model {
        address verifier;
        uint16 layoutId;
        uint8 inputScale;
        uint8 marketsPerProof;
        bool active;
        address vkaPointer;
        uint16 vkaWords;
        bytes32 vkaDigest;
    }

    /// @notice Guardrail of one parameter of one market, in basis points of the value (1e-4).
    ///         `maxIncreaseBp`/`maxDecreaseBp` bound the change from the stored value per update;
    ///         `UNLIMITED_STEP` disables a direction (forecasts: bounds only; max LTV: tightening).
    struct Guard {
        uint16 minBp;
        uint16 maxBp;
        uint16 maxIncreaseBp;
        uint16 maxDecreaseBp;
    }

    /// @notice Timing rules, in seconds. A report's `observedAt` may not be in the future nor older than
    ///         `maxReportAge` when it is submitted (`maxGovernanceReportAge` when a voted update executes).
    ///         Reads are stale once `stalenessPeriod` has passed since the data's `observedAt`.
    struct Timing {
        uint64 maxReportAge;
        uint64 maxGovernanceReportAge;
        uint64 stalenessPeriod;
    }

    /// @notice What the publishers sign about one market at one epoch (EIP-712 type `Report`).
    /// @param inputHash Poseidon hash of the proved input vector (the proof's instance for this market).
    /// @param dataHash keccak256 of the canonical encoding of the raw data the input was computed from.
    /// @param epoch UTC day number the parameters apply to (days since 1970-01-01).
    /// @param observedAt Time the data was observed (the close of its last bar), seconds; on the epoch's day.
    struct Report {
        uint64 marketId;
        uint64 epoch;
        bytes32 inputHash;
        bytes32 dataHash;
        uint64 observedAt;
    }

    /// @notice An EIP-2098 compact signature of the batch digest (`reportsDigest`).
    struct Signature {
        bytes32 r;
        bytes32 vs;
    }

    /// @notice Everything `submitUpdate` takes: the reports (one per market, in proof order, market ids
    ///         strictly increasing), k or more publisher signatures over their digest in strictly
    ///         increasing signer order, and the proof with its public instances.
    struct ProvedUpdate {
        uint32 modelId;
        Report[] reports;
        Signature[] signatures;
        bytes proof;
        uint256[] instances;
    }

    /// @notice One market's verified update: its report and its outputs as the layout's fixed-point
    ///         integers (value = v / 2^scale), in layout order, exactly what the oracle stores.
    struct MarketUpdate {
        Report report;
        uint256[] values;
    }

    /// @notice The lending layout's parameters, what lending integrators read.
    /// @dev `collateralRatio` = 1 / maxLtv, rounded up.
    struct RiskParameters {
        uint256 collateralRatio;
        uint256 maxLtv;
        uint256 liquidationThreshold;
        uint256 volatility;
        uint256 valueAtRisk;
        uint256 expectedShortfall;
        uint64 observedAt;
        uint64 epoch;
        uint32 modelId;
    }

    event LayoutRegistered(uint16 indexed layoutId, Layout layout);
    event ModelRegistered(uint32 indexed modelId, address indexed verifier, uint16 indexed layoutId, Model model);
    event ModelActivationChanged(uint32 indexed modelId, bool active);
    event ModelMarketChanged(uint32 indexed modelId, uint64 indexed marketId, bool served);
    event GuardsChanged(uint64 indexed marketId, uint16 indexed layoutId, Guard[] guards);
    event TimingChanged(Timing timing);
    event PublisherChanged(address indexed publisher, bool active);
    event QuorumChanged(uint8 quorum);
    /// @notice Parameters of a market changed; `governanceOverride` marks a voted update that skipped
    ///         the guardrails (its proof and signatures were verified when the proposal was made).
    /// @param values The outputs in WAD, in layout order.
    event RiskParametersUpdated(
        uint64 indexed marketId,
        uint16 indexed layoutId,
        uint64 indexed epoch,
        uint32 modelId,
        bytes32 inputHash,
        bytes32 dataHash,
        uint64 observedAt,
        uint256[] values,
        bool governanceOverride
    );

    error UnknownLayout(uint16 layoutId);
    error LayoutAlreadyRegistered(uint16 layoutId);
    /// @notice A layout is unusable: no outputs, too many, a scale outside 1..MAX_SCALE, a state index out
    ///         of range or repeated, a state without its initial value, or a parameter id already taken.
    error InvalidLayout(uint16 layoutId);
    error UnknownParameter(uint16 parameterId);
    error UnknownModel(uint32 modelId);
    error ModelInactive(uint32 modelId);
    error ModelAlreadyRegistered(uint32 modelId);
    /// @notice Registration data is unusable: no verifier code, unknown layout, input scale above the
    ///         layout's, or K outside 1..MAX_BATCH.
    error InvalidModelConfig(uint32 modelId);
    /// @notice The reusable verifier registered the VKA under another digest than keccak256 of its words.
    error VkaDigestMismatch(bytes32 expected, bytes32 actual);
    error MarketNotServed(uint32 modelId, uint64 marketId);
    /// @notice A market cannot be served before its guards for the model's layout are set.
    error GuardsNotSet(uint64 marketId, uint16 layoutId);
    error BatchSizeMismatch(uint256 expected, uint256 actual);
    error InstanceCountMismatch(uint256 expected, uint256 actual);
    /// @notice Markets of a batch must be in strictly increasing id order (which also rules out duplicates).
    error MarketsNotIncreasing(uint64 previous, uint64 marketId);
    error EpochNotIncreasing(uint64 marketId, uint64 epoch, uint64 lastEpoch);
    /// @notice The report's observation time is not on its epoch's UTC day (epoch = observedAt / 1 days) or
    ///         is after the current block.
    error ObservationOutOfRange(uint64 marketId, uint64 epoch, uint64 observedAt);
    error ReportTooOld(uint64 marketId, uint64 epoch, uint64 observedAt);
    /// @notice Fewer than the quorum of distinct current publishers signed the batch digest.
    error InsufficientSignatures(uint256 valid, uint256 quorum);
    error InputHashMismatch(uint64 marketId, bytes32 reported, bytes32 proved);
    /// @notice An output instance is negative or does not fit the 24 bits the oracle stores.
    error InvalidOutput(uint256 felt);
    /// @notice The proof's passed-through policy state is not the market's stored state.
    error StateMismatch(uint64 marketId, uint256 stateIndex, uint256 stored, uint256 proved);
    error InvalidProof(uint32 modelId);
    /// @notice `value` (WAD) is outside the guard's bounds (basis points).
    error ParameterOutOfBounds(uint64 marketId, uint16 parameterId, uint256 value, uint256 minBp, uint256 maxBp);
    error ParameterStepTooLarge(uint64 marketId, uint16 parameterId, uint256 previous, uint256 value);
    /// @notice A guard whose bounds are empty or whose steps are zero (a zero step freezes a parameter).
    error InvalidGuard(uint64 marketId, uint16 layoutId, uint256 index);
    error InvalidTiming();
    /// @notice A publisher set change would leave a quorum of zero or above the number of publishers.
    error InvalidQuorum(uint256 quorum, uint256 publishers);
    error PublisherUnchanged(address publisher);
    /// @notice No parameters yet or older than the staleness period (measured from their observation).
    error StaleRiskParameters(uint64 marketId, uint16 layoutId, uint64 observedAt);

    // ------------------------------------------------------------------ governance

    /// @notice Registers an output layout. Governance only.
    function registerLayout(uint16 layoutId, Layout calldata layout) external;

    /// @notice Registers a model for a registered layout. Governance only. With a non-empty `vka`,
    ///         `verifier` is EZKL's reusable verifier: the VKA is registered there and stored as code.
    function registerModel(
        uint32 modelId,
        address verifier,
        bytes32[] calldata vka,
        uint16 layoutId,
        uint8 inputScale,
        uint8 marketsPerProof,
        uint64[] calldata marketIds
    ) external;

    /// @notice Activates or retires a model. Governance only.
    function setModelActive(uint32 modelId, bool active) external;

    /// @notice Adds or removes markets a model may serve (adding needs the market's guards). Governance only.
    function setModelMarkets(uint32 modelId, uint64[] calldata marketIds, bool served) external;

    /// @notice Sets one market's guards for a layout, one per output in layout order. Governance only.
    function setGuards(uint64 marketId, uint16 layoutId, Guard[] calldata guards) external;

    /// @notice Sets the timing rules. Governance only.
    function setTiming(Timing calldata timing) external;

    /// @notice Adds or removes a publisher; removal may not leave fewer publishers than the quorum.
    ///         Governance only.
    function setPublisher(address publisher, bool active) external;

    /// @notice Sets k, with 1 <= k <= publisher count. Governance only.
    function setQuorum(uint8 quorum) external;

    /// @notice Stops updates, permissionless and voted alike (reads continue). Guardian only.
    function pause() external;

    /// @notice Resumes updates. Guardian only.
    function unpause() external;

    /// @notice Applies updates whose proof and signatures were verified when the proposal was made,
    ///         skipping the guardrails. Governance only, not while paused. Re-checks at execution that the
    ///         model is active and serves each market, that epochs still increase, that each report is
    ///         within `maxGovernanceReportAge` and that k current publishers still sign the reports
    ///         (a publisher revoked since the proposal no longer counts).
    function applyGovernanceUpdate(uint32 modelId, MarketUpdate[] calldata updates, Signature[] calldata signatures)
        external;

    // ------------------------------------------------------------------ updates

    /// @notice Permissionless proved update of the model's K markets (see the contract notice).
    function submitUpdate(ProvedUpdate calldata update) external;

    /// @notice Every check of `submitUpdate` but pause and guardrails; returns the decoded updates.
    ///         Used by governance at proposal time and by keepers for dry runs.
    function verifyUpdate(ProvedUpdate calldata update) external view returns (MarketUpdate[] memory updates);

    /// @notice The EIP-712 digest publishers sign for a batch of reports (type `ReportBatch(Report[] reports)`).
    function reportsDigest(Report[] calldata reports) external view returns (bytes32);

    // ------------------------------------------------------------------ reads

    function getLayout(uint16 layoutId) external view returns (Layout memory);
    function getModel(uint32 modelId) external view returns (Model memory);
    function servesMarket(uint32 modelId, uint64 marketId) external view returns (bool);
    function getGuards(uint64 marketId, uint16 layoutId) external view returns (Guard[] memory);
    function timing() external view returns (Timing memory);
    function isPublisher(address account) external view returns (bool);
    function publisherCount() external view returns (uint8);
    function quorum() external view returns (uint8);

    /// @notice One parameter in WAD with its observation time and epoch (for the AggregatorV3 feeds).
    function getParameter(uint64 marketId, uint16 parameterId)
        external
        view
        returns (uint256 value, uint64 observedAt, uint64 epoch);

    /// @notice The lending layout's latest parameters; all zero (observedAt == 0) before the first update.
    function getRiskParameters(uint64 marketId) external view returns (RiskParameters memory);

    /// @notice As `getRiskParameters`; reverts with StaleRiskParameters when none or stale.
    function getFreshRiskParameters(uint64 marketId) external view returns (RiskParameters memory);

}

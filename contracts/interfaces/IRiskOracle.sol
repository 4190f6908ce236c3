// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {IDataCommitmentRegistry} from "./IDataCommitmentRegistry.sol";

/// @title IRiskOracle
/// @notice Proved risk parameters per market. Updates are permissionless: a zk proof that the parameters
///         are the registered model's output on the publishers' committed inputs is the authority, and
///         guardrails (absolute bounds, max change per update, min delay, as Aave's RiskSteward) bound
///         what even a valid proof can move in one step. Governance (a timelock) owns the model registry
///         and the guardrails, and can apply proved updates beyond the guardrails after a vote.
/// @dev All risk values are WAD fractions (1e18 = 1.0): volatility 0.05e18 = 5%, CR 1.5e18 = 150%.
interface IRiskOracle {
    /// @notice Output order of the circuit (models/spec.py OUTPUTS); also the index into `values`.
    enum Parameter {
        Volatility,
        ValueAtRisk,
        ExpectedShortfall,
        LiquidationThreshold,
        CollateralRatio
    }

    /// @notice A registered model (circuit). `vkaPointer` is zero for a plain verifier with a baked-in key.
    struct Model {
        address verifier;
        uint8 outputScale;
        uint8 marketsPerProof;
        bool active;
        address vkaPointer;
        uint16 vkaWords;
        bytes32 vkaDigest;
    }

    /// @notice Per-parameter guardrail. `maxChange` is WAD: a fraction of the previous value when
    ///         `relative`, else an absolute WAD amount. The change limit does not apply to a market's
    ///         first update (there is nothing to compare with); the bounds always do.
    struct ParameterGuard {
        uint96 min;
        uint96 max;
        uint64 maxChange;
        bool relative;
    }

    /// @notice Timing rules. `minUpdateDelay`: seconds between two updates of a market.
    ///         `maxCommitmentAge`: oldest accepted commitment, measured from its `observedAt`.
    ///         `stalenessPeriod`: age after which reads treat the parameters as stale.
    struct Timing {
        uint64 minUpdateDelay;
        uint64 maxCommitmentAge;
        uint64 stalenessPeriod;
    }

    /// @notice One market's proved outputs, decoded to WAD, indexed by `Parameter`.
    struct RiskUpdate {
        uint64 marketId;
        uint64 epoch;
        bytes32 inputHash;
        uint256[5] values;
    }

    /// @notice What integrators read.
    struct RiskParameters {
        uint256 collateralRatio;
        uint256 liquidationThreshold;
        uint256 volatility;
        uint256 valueAtRisk;
        uint256 expectedShortfall;
        uint64 updatedAt;
        uint32 modelId;
        bytes32 inputHash;
        uint64 epoch;
    }

    event ModelRegistered(
        uint32 indexed modelId,
        address indexed verifier,
        bytes32 vkaDigest,
        address vkaPointer,
        uint8 outputScale,
        uint8 marketsPerProof
    );
    event ModelActivationChanged(uint32 indexed modelId, bool active);
    event ModelMarketChanged(uint32 indexed modelId, uint64 indexed marketId, bool served);
    event GuardrailChanged(Parameter indexed parameter, ParameterGuard guard);
    event TimingChanged(Timing timing);
    /// @notice Parameters of a market changed; `governanceOverride` marks a voted update that skipped
    ///         the guardrails (its proof was verified when the proposal was made).
    event RiskParametersUpdated(
        uint64 indexed marketId,
        uint64 indexed epoch,
        uint32 indexed modelId,
        bytes32 inputHash,
        uint256[5] values,
        bool governanceOverride
    );

    error UnknownModel(uint32 modelId);
    error ModelInactive(uint32 modelId);
    error ModelAlreadyRegistered(uint32 modelId);
    /// @notice Registration data is unusable: no verifier code, scale outside 1..64, or K outside 1..MAX_BATCH.
    error InvalidModelConfig(uint32 modelId);
    /// @notice The reusable verifier registered the VKA under another digest than keccak256 of its words.
    error VkaDigestMismatch(bytes32 expected, bytes32 actual);
    error MarketNotServed(uint32 modelId, uint64 marketId);
    error BatchSizeMismatch(uint256 expected, uint256 actual);
    error InstanceCountMismatch(uint256 expected, uint256 actual);
    error DuplicateMarket(uint64 marketId);
    error EpochNotIncreasing(uint64 marketId, uint64 epoch, uint64 lastEpoch);
    error CommitmentNotFinal(uint64 marketId, uint64 epoch);
    error CommitmentTooOld(uint64 marketId, uint64 epoch, uint64 observedAt);
    error InputHashMismatch(uint64 marketId, uint64 epoch, bytes32 committed, bytes32 proved);
    /// @notice An output instance is not a field element or encodes a negative number.
    error InvalidOutput(uint256 felt);
    error InvalidProof(uint32 modelId);
    error ParameterOutOfBounds(uint64 marketId, Parameter parameter, uint256 value, uint256 min, uint256 max);
    error ParameterChangeTooLarge(uint64 marketId, Parameter parameter, uint256 previous, uint256 value);
    error UpdateTooSoon(uint64 marketId, uint64 nextUpdateAt);
    error InvalidGuardrail(Parameter parameter);
    error InvalidTiming();
    /// @notice No parameters yet (`updatedAt == 0`) or older than the staleness period.
    error StaleRiskParameters(uint64 marketId, uint64 updatedAt);

    /// @notice Registry the input hashes must be final in.
    function COMMITMENT_REGISTRY() external view returns (IDataCommitmentRegistry);

    /// @notice Registers a model. Governance only. With a non-empty `vka`, `verifier` is EZKL's reusable
    ///         verifier: the VKA is registered there and its words are stored as contract code.
    function registerModel(
        uint32 modelId,
        address verifier,
        bytes32[] calldata vka,
        uint8 outputScale,
        uint8 marketsPerProof,
        uint64[] calldata marketIds
    ) external;

    /// @notice Activates or retires a model. Governance only.
    function setModelActive(uint32 modelId, bool active) external;

    /// @notice Adds or removes markets a model may serve. Governance only.
    function setModelMarkets(uint32 modelId, uint64[] calldata marketIds, bool served) external;

    /// @notice Sets the guardrail of one parameter. Governance only.
    function setGuardrail(Parameter parameter, ParameterGuard calldata guard) external;

    /// @notice Sets the timing rules. Governance only.
    function setTiming(Timing calldata timing) external;

    /// @notice Stops updates (reads continue). Guardian only.
    function pause() external;

    /// @notice Resumes updates. Guardian only.
    function unpause() external;

    /// @notice Permissionless proved update of `marketIds.length` markets (the model's K).
    /// @param instances EZKL public instances: K input hashes, then K blocks of the five outputs.
    function submitUpdate(
        uint32 modelId,
        uint64[] calldata marketIds,
        uint64[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances
    ) external;

    /// @notice Runs every check of `submitUpdate` except pause, min delay and guardrails, and returns the
    ///         decoded updates. Used by governance at proposal time and by keepers for dry runs.
    function verifyUpdate(
        uint32 modelId,
        uint64[] calldata marketIds,
        uint64[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances
    ) external view returns (RiskUpdate[] memory updates);

    /// @notice Applies updates whose proof governance verified at proposal time, skipping guardrails
    ///         (epochs must still increase). Governance only; works while paused.
    function applyGovernanceUpdate(uint32 modelId, RiskUpdate[] calldata updates) external;

    function getModel(uint32 modelId) external view returns (Model memory);
    function servesMarket(uint32 modelId, uint64 marketId) external view returns (bool);
    function getGuardrail(Parameter parameter) external view returns (ParameterGuard memory);
    function timing() external view returns (Timing memory);

    /// @notice Latest parameters; all zero (updatedAt == 0) before the first update.
    function getRiskParameters(uint64 marketId) external view returns (RiskParameters memory);

    /// @notice Latest parameters; reverts with StaleRiskParameters when none or older than the staleness period.
    function getFreshRiskParameters(uint64 marketId) external view returns (RiskParameters memory);

    /// @notice One parameter with its update time and epoch (for the AggregatorV3 adapters).
    function getParameter(uint64 marketId, Parameter parameter)
        external
        view
        returns (uint256 value, uint64 updatedAt, uint64 epoch);

    /// @notice True when the market has no parameters or they are older than the staleness period.
    function isStale(uint64 marketId) external view returns (bool);

    /// @notice True while updates are paused.
    function paused() external view returns (bool);
}

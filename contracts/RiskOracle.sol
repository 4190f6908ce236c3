// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IDataCommitmentRegistry} from "./interfaces/IDataCommitmentRegistry.sol";
import {IHalo2Verifier} from "./interfaces/IHalo2Verifier.sol";
import {IHalo2VerifierReusable} from "./interfaces/IHalo2VerifierReusable.sol";
import {IRiskOracle} from "./interfaces/IRiskOracle.sol";
import {Guardrails} from "./libraries/Guardrails.sol";
import {RiskInstances} from "./libraries/RiskInstances.sol";
import {VkaStore} from "./libraries/VkaStore.sol";

/// @title RiskOracle
/// @notice Verifies zk-proved risk parameters against publisher commitments and guardrails, and serves them.
/// @dev Roles: GOVERNANCE_ROLE (the timelock; admin of both roles) owns models, guardrails and timing;
///      GUARDIAN_ROLE pauses updates. Verifier calls are STATICCALLs, so verification cannot reenter or
///      change state, and `verifyUpdate` is a view that governance and keepers can run before submitting.
contract RiskOracle is IRiskOracle, AccessControl, Pausable {
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice Largest batch a model may prove in one update.
    uint8 public constant MAX_BATCH = 32;
    /// @notice Largest accepted output scale (bits after the fixed point).
    uint8 public constant MAX_OUTPUT_SCALE = 64;

    /// @inheritdoc IRiskOracle
    IDataCommitmentRegistry public immutable COMMITMENT_REGISTRY;

    /// @dev Four slots per market: values fit 96 bits (guardrail bounds are uint96), updates write them all.
    struct StoredParameters {
        uint96 volatility;
        uint96 valueAtRisk;
        uint64 updatedAt;
        uint96 expectedShortfall;
        uint96 liquidationThreshold;
        uint64 epoch;
        uint96 collateralRatio;
        uint32 modelId;
        bytes32 inputHash;
    }

    mapping(uint32 modelId => Model) private _models;
    mapping(uint32 modelId => mapping(uint64 marketId => bool)) private _serves;
    mapping(uint64 marketId => StoredParameters) private _parameters;
    ParameterGuard[5] private _guards;
    Timing private _timing;

    /// @param registry Commitment registry the input hashes must be final in.
    /// @param governance First holder of GOVERNANCE_ROLE (the timelock, or the deployer who hands over).
    /// @param guardian First holder of GUARDIAN_ROLE.
    /// @param guards Guardrails in `Parameter` order.
    /// @param initialTiming Delay, commitment age and staleness rules.
    constructor(
        IDataCommitmentRegistry registry,
        address governance,
        address guardian,
        ParameterGuard[5] memory guards,
        Timing memory initialTiming
    ) {
        COMMITMENT_REGISTRY = registry;
        _setRoleAdmin(GOVERNANCE_ROLE, GOVERNANCE_ROLE);
        _setRoleAdmin(GUARDIAN_ROLE, GOVERNANCE_ROLE);
        _grantRole(GOVERNANCE_ROLE, governance);
        _grantRole(GUARDIAN_ROLE, guardian);
        for (uint256 p = 0; p < RiskInstances.OUTPUT_COUNT; ++p) {
            _setGuardrail(Parameter(p), guards[p]);
        }
        _setTiming(initialTiming);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IRiskOracle
    function registerModel(
        uint32 modelId,
        address verifier,
        bytes32[] calldata vka,
        uint8 outputScale,
        uint8 marketsPerProof,
        uint64[] calldata marketIds
    ) external onlyRole(GOVERNANCE_ROLE) {
        if (_models[modelId].verifier != address(0)) revert ModelAlreadyRegistered(modelId);
        if (
            verifier.code.length == 0 || outputScale == 0 || outputScale > MAX_OUTPUT_SCALE || marketsPerProof == 0
                || marketsPerProof > MAX_BATCH
        ) revert InvalidModelConfig(modelId);

        Model memory model = Model({
            verifier: verifier,
            outputScale: outputScale,
            marketsPerProof: marketsPerProof,
            active: true,
            vkaPointer: address(0),
            vkaWords: 0,
            vkaDigest: bytes32(0)
        });
        if (vka.length != 0) {
            model.vkaPointer = VkaStore.write(vka);
            model.vkaWords = uint16(vka.length);
            model.vkaDigest = keccak256(abi.encodePacked(vka));
        }
        _models[modelId] = model;
        emit ModelRegistered(modelId, verifier, model.vkaDigest, model.vkaPointer, outputScale, marketsPerProof);
        _setMarkets(modelId, marketIds, true);

        if (vka.length != 0) {
            // Interaction last; a digest other than keccak256(words) would mean a verifier that is not
            // EZKL's reusable one, and every later verification would fail, so refuse it now.
            bytes32 registered = IHalo2VerifierReusable(verifier).registerVka(vka);
            if (registered != model.vkaDigest) revert VkaDigestMismatch(model.vkaDigest, registered);
        }
    }

    /// @inheritdoc IRiskOracle
    function setModelActive(uint32 modelId, bool active) external onlyRole(GOVERNANCE_ROLE) {
        _requireModel(modelId);
        _models[modelId].active = active;
        emit ModelActivationChanged(modelId, active);
    }

    /// @inheritdoc IRiskOracle
    function setModelMarkets(uint32 modelId, uint64[] calldata marketIds, bool served)
        external
        onlyRole(GOVERNANCE_ROLE)
    {
        _requireModel(modelId);
        _setMarkets(modelId, marketIds, served);
    }

    /// @inheritdoc IRiskOracle
    function setGuardrail(Parameter parameter, ParameterGuard calldata guard) external onlyRole(GOVERNANCE_ROLE) {
        _setGuardrail(parameter, guard);
    }

    /// @inheritdoc IRiskOracle
    function setTiming(Timing calldata newTiming) external onlyRole(GOVERNANCE_ROLE) {
        _setTiming(newTiming);
    }

    /// @inheritdoc IRiskOracle
    function pause() external onlyRole(GUARDIAN_ROLE) {
        _pause();
    }

    /// @inheritdoc IRiskOracle
    function unpause() external onlyRole(GUARDIAN_ROLE) {
        _unpause();
    }

    /// @inheritdoc IRiskOracle
    function applyGovernanceUpdate(uint32 modelId, RiskUpdate[] calldata updates) external onlyRole(GOVERNANCE_ROLE) {
        _requireModel(modelId);
        RiskUpdate[] memory batch = updates;
        for (uint256 i = 0; i < batch.length; ++i) {
            _checkSequence(batch, i);
            for (uint256 p = 0; p < RiskInstances.OUTPUT_COUNT; ++p) {
                if (batch[i].values[p] > type(uint96).max) {
                    revert ParameterOutOfBounds(batch[i].marketId, Parameter(p), batch[i].values[p], 0, type(uint96).max);
                }
            }
        }
        for (uint256 i = 0; i < batch.length; ++i) {
            _store(modelId, batch[i], true);
        }
    }

    // ------------------------------------------------------------------ updates

    /// @inheritdoc IRiskOracle
    function submitUpdate(
        uint32 modelId,
        uint64[] calldata marketIds,
        uint64[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances
    ) external whenNotPaused {
        _applyWithGuardrails(modelId, _verifiedUpdates(modelId, marketIds, epochs, proof, instances));
    }

    /// @inheritdoc IRiskOracle
    function verifyUpdate(
        uint32 modelId,
        uint64[] calldata marketIds,
        uint64[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances
    ) external view returns (RiskUpdate[] memory) {
        return _verifiedUpdates(modelId, marketIds, epochs, proof, instances);
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc IRiskOracle
    function getModel(uint32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    /// @inheritdoc IRiskOracle
    function servesMarket(uint32 modelId, uint64 marketId) external view returns (bool) {
        return _serves[modelId][marketId];
    }

    /// @inheritdoc IRiskOracle
    function getGuardrail(Parameter parameter) external view returns (ParameterGuard memory) {
        return _guards[uint8(parameter)];
    }

    /// @inheritdoc IRiskOracle
    function timing() external view returns (Timing memory) {
        return _timing;
    }

    /// @inheritdoc IRiskOracle
    function getRiskParameters(uint64 marketId) public view returns (RiskParameters memory) {
        StoredParameters storage s = _parameters[marketId];
        return RiskParameters({
            collateralRatio: s.collateralRatio,
            liquidationThreshold: s.liquidationThreshold,
            volatility: s.volatility,
            valueAtRisk: s.valueAtRisk,
            expectedShortfall: s.expectedShortfall,
            updatedAt: s.updatedAt,
            modelId: s.modelId,
            inputHash: s.inputHash,
            epoch: s.epoch
        });
    }

    /// @inheritdoc IRiskOracle
    function getFreshRiskParameters(uint64 marketId) external view returns (RiskParameters memory params) {
        params = getRiskParameters(marketId);
        if (_isStale(params.updatedAt)) revert StaleRiskParameters(marketId, params.updatedAt);
    }

    /// @inheritdoc IRiskOracle
    function getParameter(uint64 marketId, Parameter parameter)
        external
        view
        returns (uint256 value, uint64 updatedAt, uint64 epoch)
    {
        StoredParameters storage s = _parameters[marketId];
        return (_values(s)[uint8(parameter)], s.updatedAt, s.epoch);
    }

    /// @inheritdoc IRiskOracle
    function isStale(uint64 marketId) external view returns (bool) {
        return _isStale(_parameters[marketId].updatedAt);
    }

    /// @inheritdoc IRiskOracle
    function paused() public view override(IRiskOracle, Pausable) returns (bool) {
        return super.paused();
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every check that does not depend on the previous parameters' values, then the proof (the
    ///      costliest check) last. Returns the decoded updates.
    function _verifiedUpdates(
        uint32 modelId,
        uint64[] calldata marketIds,
        uint64[] calldata epochs,
        bytes calldata proof,
        uint256[] calldata instances
    ) internal view returns (RiskUpdate[] memory updates) {
        Model memory model = _requireModel(modelId);
        if (!model.active) revert ModelInactive(modelId);
        uint256 k = model.marketsPerProof;
        if (marketIds.length != k) revert BatchSizeMismatch(k, marketIds.length);
        if (epochs.length != k) revert BatchSizeMismatch(k, epochs.length);
        if (instances.length != RiskInstances.instanceCount(k)) {
            revert InstanceCountMismatch(RiskInstances.instanceCount(k), instances.length);
        }

        updates = new RiskUpdate[](k);
        for (uint256 i = 0; i < k; ++i) {
            RiskUpdate memory u = updates[i];
            u.marketId = marketIds[i];
            u.epoch = epochs[i];
            u.inputHash = RiskInstances.inputHash(instances, i);
            _checkMarket(modelId, updates, i);
            for (uint256 p = 0; p < RiskInstances.OUTPUT_COUNT; ++p) {
                u.values[p] = RiskInstances.feltToWad(RiskInstances.outputFelt(instances, k, i, p), model.outputScale);
            }
        }
        if (!_proofVerifies(model, proof, instances)) revert InvalidProof(modelId);
    }

    /// @dev Market `i` of a proved batch: served by the model, in sequence, committed, fresh and matching.
    function _checkMarket(uint32 modelId, RiskUpdate[] memory batch, uint256 i) private view {
        RiskUpdate memory u = batch[i];
        if (!_serves[modelId][u.marketId]) revert MarketNotServed(modelId, u.marketId);
        _checkSequence(batch, i);
        (bool isFinal, bytes32 committed, uint64 observedAt) = COMMITMENT_REGISTRY.finalCommitment(u.marketId, u.epoch);
        if (!isFinal) revert CommitmentNotFinal(u.marketId, u.epoch);
        if (block.timestamp > uint256(observedAt) + _timing.maxCommitmentAge) {
            revert CommitmentTooOld(u.marketId, u.epoch, observedAt);
        }
        if (committed != u.inputHash) revert InputHashMismatch(u.marketId, u.epoch, committed, u.inputHash);
    }

    /// @dev Market `i` of the batch appears once and moves its epoch forward.
    function _checkSequence(RiskUpdate[] memory batch, uint256 i) internal view {
        uint64 marketId = batch[i].marketId;
        for (uint256 j = 0; j < i; ++j) {
            if (batch[j].marketId == marketId) revert DuplicateMarket(marketId);
        }
        uint64 lastEpoch = _parameters[marketId].epoch;
        if (_parameters[marketId].updatedAt != 0 && batch[i].epoch <= lastEpoch) {
            revert EpochNotIncreasing(marketId, batch[i].epoch, lastEpoch);
        }
    }

    function _proofVerifies(Model memory model, bytes calldata proof, uint256[] calldata instances)
        private
        view
        returns (bool)
    {
        bool ok;
        bytes memory ret;
        if (model.vkaPointer == address(0)) {
            (ok, ret) = model.verifier.staticcall(abi.encodeCall(IHalo2Verifier.verifyProof, (proof, instances)));
            return ok && ret.length >= 32 && _word(ret, 0) == 1;
        }
        bytes32[] memory vka = VkaStore.read(model.vkaPointer, model.vkaWords);
        (ok, ret) = model.verifier.staticcall(
            abi.encodeCall(IHalo2VerifierReusable.verifyProof, (proof, instances, vka))
        );
        // The verifier hashes the VKA it was given and requires it registered; matching its digest with
        // the model's ties the words read back to the ones governance registered. Only the first two
        // return words are read: the generated code's rescaled tail is not standard ABI.
        return ok && ret.length >= 64 && _word(ret, 0) == 1 && bytes32(_word(ret, 1)) == model.vkaDigest;
    }

    /// @dev Guardrails for the whole batch, then the writes (validate-then-apply).
    function _applyWithGuardrails(uint32 modelId, RiskUpdate[] memory updates) internal {
        uint64 minDelay = _timing.minUpdateDelay;
        for (uint256 i = 0; i < updates.length; ++i) {
            _checkGuardrails(updates[i], minDelay);
        }
        for (uint256 i = 0; i < updates.length; ++i) {
            _store(modelId, updates[i], false);
        }
    }

    function _checkGuardrails(RiskUpdate memory u, uint64 minDelay) private view {
        StoredParameters storage last = _parameters[u.marketId];
        uint64 lastUpdate = last.updatedAt;
        if (lastUpdate != 0 && block.timestamp < uint256(lastUpdate) + minDelay) {
            revert UpdateTooSoon(u.marketId, lastUpdate + minDelay);
        }
        uint256[5] memory previous = _values(last);
        for (uint256 p = 0; p < RiskInstances.OUTPUT_COUNT; ++p) {
            ParameterGuard memory guard = _guards[p];
            uint256 value = u.values[p];
            if (!Guardrails.withinBounds(guard, value)) {
                revert ParameterOutOfBounds(u.marketId, Parameter(p), value, guard.min, guard.max);
            }
            if (lastUpdate != 0 && !Guardrails.withinChange(guard, previous[p], value)) {
                revert ParameterChangeTooLarge(u.marketId, Parameter(p), previous[p], value);
            }
        }
    }

    /// @dev Callers have bounded every value by uint96 (guardrail bounds or the governance check).
    function _store(uint32 modelId, RiskUpdate memory u, bool governanceOverride) private {
        uint256[5] memory v = u.values;
        _parameters[u.marketId] = StoredParameters({
            volatility: uint96(v[uint8(Parameter.Volatility)]),
            valueAtRisk: uint96(v[uint8(Parameter.ValueAtRisk)]),
            updatedAt: uint64(block.timestamp),
            expectedShortfall: uint96(v[uint8(Parameter.ExpectedShortfall)]),
            liquidationThreshold: uint96(v[uint8(Parameter.LiquidationThreshold)]),
            epoch: u.epoch,
            collateralRatio: uint96(v[uint8(Parameter.CollateralRatio)]),
            modelId: modelId,
            inputHash: u.inputHash
        });
        emit RiskParametersUpdated(u.marketId, u.epoch, modelId, u.inputHash, v, governanceOverride);
    }

    function _values(StoredParameters storage s) private view returns (uint256[5] memory v) {
        v[uint8(Parameter.Volatility)] = s.volatility;
        v[uint8(Parameter.ValueAtRisk)] = s.valueAtRisk;
        v[uint8(Parameter.ExpectedShortfall)] = s.expectedShortfall;
        v[uint8(Parameter.LiquidationThreshold)] = s.liquidationThreshold;
        v[uint8(Parameter.CollateralRatio)] = s.collateralRatio;
    }

    function _isStale(uint64 updatedAt) private view returns (bool) {
        return updatedAt == 0 || block.timestamp - updatedAt > _timing.stalenessPeriod;
    }

    function _requireModel(uint32 modelId) private view returns (Model memory model) {
        model = _models[modelId];
        if (model.verifier == address(0)) revert UnknownModel(modelId);
    }

    function _setMarkets(uint32 modelId, uint64[] calldata marketIds, bool served) private {
        for (uint256 i = 0; i < marketIds.length; ++i) {
            _serves[modelId][marketIds[i]] = served;
            emit ModelMarketChanged(modelId, marketIds[i], served);
        }
    }

    function _setGuardrail(Parameter parameter, ParameterGuard memory guard) private {
        if (!Guardrails.isValid(guard)) revert InvalidGuardrail(parameter);
        _guards[uint8(parameter)] = guard;
        emit GuardrailChanged(parameter, guard);
    }

    /// @dev A min delay at or above the staleness period would make every market go stale between
    ///      two allowed updates.
    function _setTiming(Timing memory newTiming) private {
        if (
            newTiming.maxCommitmentAge == 0 || newTiming.stalenessPeriod == 0
                || newTiming.minUpdateDelay >= newTiming.stalenessPeriod
        ) revert InvalidTiming();
        _timing = newTiming;
        emit TimingChanged(newTiming);
    }

    function _word(bytes memory data, uint256 index) private pure returns (uint256 value) {
        assembly ("memory-safe") {
            value := mload(add(add(data, 0x20), mul(index, 0x20)))
        }
    }
}

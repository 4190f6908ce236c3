// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {AccessControl} from "@openzeppelin/contracts/access/AccessControl.sol";
import {ECDSA} from "@openzeppelin/contracts/utils/cryptography/ECDSA.sol";
import {EIP712} from "@openzeppelin/contracts/utils/cryptography/EIP712.sol";
import {Pausable} from "@openzeppelin/contracts/utils/Pausable.sol";
import {IHalo2Verifier} from "./interfaces/IHalo2Verifier.sol";
import {IHalo2VerifierReusable} from "./interfaces/IHalo2VerifierReusable.sol";
import {IRiskOracle} from "./interfaces/IRiskOracle.sol";
import {IRiskParameterSource} from "./interfaces/IRiskParameterSource.sol";
import {Guardrails} from "./libraries/Guardrails.sol";
import {RiskLayouts} from "./libraries/RiskLayouts.sol";
import {RiskRecords} from "./libraries/RiskRecords.sol";
import {VkaStore} from "./libraries/VkaStore.sol";

/// @title RiskOracle
/// @notice Verifies signed, proved risk updates and serves them per market and output layout (see IRiskOracle).
/// @dev Roles: GOVERNANCE_ROLE (the timelock; admin of both roles) owns layouts, models, publishers,
///      guards and timing; GUARDIAN_ROLE pauses updates. Verifier calls are STATICCALLs, so verification
///      cannot reenter or change state; `verifyUpdate` is the same checks as a view.
contract RiskOracle is IRiskOracle, AccessControl, Pausable, EIP712 {
    bytes32 public constant GOVERNANCE_ROLE = keccak256("GOVERNANCE_ROLE");
    bytes32 public constant GUARDIAN_ROLE = keccak256("GUARDIAN_ROLE");
    /// @notice EIP-712 type of one market's report.
    bytes32 public constant REPORT_TYPEHASH = keccak256(
        "Report(uint64 marketId,uint64 epoch,bytes32 inputHash,bytes32 dataHash,uint64 observedAt)"
    );
    /// @notice EIP-712 type publishers sign: the reports of one batch, in proof order.
    bytes32 public constant REPORT_BATCH_TYPEHASH = keccak256(
        "ReportBatch(Report[] reports)Report(uint64 marketId,uint64 epoch,bytes32 inputHash,bytes32 dataHash,uint64 observedAt)"
    );
    /// @notice Largest batch a model may prove in one update.
    uint8 public constant MAX_BATCH = 64;
    /// @notice Largest layout scale: stored values are 24 bits, so at least 1.0 stays representable.
    uint8 public constant MAX_SCALE = 23;
    uint8 public constant MAX_STATE = 4;
    uint256 private constant DAY = 1 days;
    uint256 private constant WAD = 1e18;

    /// @dev What the update path reads of a layout, in one slot.
    struct LayoutConfig {
        bool registered;
        uint8 scale;
        uint8 outputCount;
        uint8 stateCount;
        uint8[4] stateIndices;
        uint24[4] initialState;
    }

    struct ParameterSlot {
        uint16 layoutId;
        uint8 index;
        bool exists;
    }

    mapping(uint16 layoutId => LayoutConfig) private _layoutConfigs;
    /// @dev A layout's parameter ids, 16 bits each in output order.
    mapping(uint16 layoutId => uint256) private _layoutParameterIds;
    mapping(uint16 parameterId => ParameterSlot) private _parameterSlots;
    mapping(uint32 modelId => Model) private _models;
    mapping(uint32 modelId => mapping(uint64 marketId => bool)) private _serves;
    /// @dev Guards packed four per slot (64 bits each), in layout output order.
    mapping(uint64 marketId => mapping(uint16 layoutId => uint256[4])) private _guards;
    mapping(uint64 marketId => mapping(uint16 layoutId => bool)) private _guardsSet;
    mapping(uint64 marketId => mapping(uint16 layoutId => RiskRecords.Record)) private _records;
    mapping(address account => bool) private _publishers;
    uint8 private _publisherCount;
    uint8 private _quorum;
    Timing private _timing;

    /// @param governance First holder of GOVERNANCE_ROLE (the timelock, or the deployer who hands over).
    /// @param guardian First holder of GUARDIAN_ROLE.
    /// @param publishers Initial publishers (n), distinct.
    /// @param initialQuorum k, with 1 <= k <= n.
    /// @param initialTiming Report age and staleness rules.
    constructor(
        address governance,
        address guardian,
        address[] memory publishers,
        uint8 initialQuorum,
        Timing memory initialTiming
    ) EIP712("zkrisk RiskOracle", "2") {
        _setRoleAdmin(GOVERNANCE_ROLE, GOVERNANCE_ROLE);
        _setRoleAdmin(GUARDIAN_ROLE, GOVERNANCE_ROLE);
        _grantRole(GOVERNANCE_ROLE, governance);
        _grantRole(GUARDIAN_ROLE, guardian);
        for (uint256 i = 0; i < publishers.length; ++i) {
            _setPublisher(publishers[i], true);
        }
        _setQuorum(initialQuorum);
        _setTiming(initialTiming);
    }

    // ------------------------------------------------------------------ governance

    /// @inheritdoc IRiskOracle
    function registerLayout(uint16 layoutId, Layout calldata layout) external onlyRole(GOVERNANCE_ROLE) {
        if (_layoutConfigs[layoutId].registered) revert LayoutAlreadyRegistered(layoutId);
        uint256 outputs = layout.parameterIds.length;
        uint256 states = layout.stateIndices.length;
        if (
            outputs == 0 || outputs > RiskRecords.MAX_VALUES || layout.scale == 0 || layout.scale > MAX_SCALE
                || states > MAX_STATE || layout.initialState.length != states
        ) revert InvalidLayout(layoutId);
        LayoutConfig memory config;
        config.registered = true;
        config.scale = layout.scale;
        config.outputCount = uint8(outputs);
        config.stateCount = uint8(states);
        for (uint256 s = 0; s < states; ++s) {
            uint8 index = layout.stateIndices[s];
            if (index >= outputs) revert InvalidLayout(layoutId);
            for (uint256 t = 0; t < s; ++t) {
                if (layout.stateIndices[t] == index) revert InvalidLayout(layoutId);
            }
            config.stateIndices[s] = index;
            config.initialState[s] = layout.initialState[s];
        }
        uint256 parameterIds;
        for (uint256 i = 0; i < outputs; ++i) {
            uint16 parameterId = layout.parameterIds[i];
            if (_parameterSlots[parameterId].exists) revert InvalidLayout(layoutId);
            _parameterSlots[parameterId] = ParameterSlot({layoutId: layoutId, index: uint8(i), exists: true});
            parameterIds |= uint256(parameterId) << (16 * i);
        }
        _layoutParameterIds[layoutId] = parameterIds;
        _layoutConfigs[layoutId] = config;
        emit LayoutRegistered(layoutId, layout);
    }

    /// @inheritdoc IRiskOracle
    function registerModel(
        uint32 modelId,
        address verifier,
        bytes32[] calldata vka,
        uint16 layoutId,
        uint8 inputScale,
        uint8 marketsPerProof,
        uint64[] calldata marketIds
    ) external onlyRole(GOVERNANCE_ROLE) {
        if (_models[modelId].verifier != address(0)) revert ModelAlreadyRegistered(modelId);
        LayoutConfig memory layout = _layoutConfigs[layoutId];
        if (
            verifier.code.length == 0 || !layout.registered || inputScale > layout.scale || marketsPerProof == 0
                || marketsPerProof > MAX_BATCH
        ) revert InvalidModelConfig(modelId);

        Model memory model = Model({
            verifier: verifier,
            layoutId: layoutId,
            inputScale: inputScale,
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
        emit ModelRegistered(modelId, verifier, layoutId, model);
        _setMarkets(modelId, layoutId, marketIds, true);

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
        _setMarkets(modelId, _requireModel(modelId).layoutId, marketIds, served);
    }

    /// @inheritdoc IRiskOracle
    function setGuards(uint64 marketId, uint16 layoutId, Guard[] calldata guards) external onlyRole(GOVERNANCE_ROLE) {
        LayoutConfig memory layout = _layoutConfigs[layoutId];
        if (!layout.registered) revert UnknownLayout(layoutId);
        if (guards.length != layout.outputCount) revert InvalidGuard(marketId, layoutId, guards.length);
        uint256[4] memory packed;
        for (uint256 i = 0; i < guards.length; ++i) {
            if (!Guardrails.isValid(guards[i])) revert InvalidGuard(marketId, layoutId, i);
            packed[i / 4] |= uint256(Guardrails.pack(guards[i])) << (64 * (i % 4));
        }
        _guards[marketId][layoutId] = packed;
        _guardsSet[marketId][layoutId] = true;
        emit GuardsChanged(marketId, layoutId, guards);
    }

    /// @inheritdoc IRiskOracle
    function setTiming(Timing calldata newTiming) external onlyRole(GOVERNANCE_ROLE) {
        _setTiming(newTiming);
    }

    /// @inheritdoc IRiskOracle
    function setPublisher(address publisher, bool active) external onlyRole(GOVERNANCE_ROLE) {
        _setPublisher(publisher, active);
        if (_quorum > _publisherCount) revert InvalidQuorum(_quorum, _publisherCount);
    }

    /// @inheritdoc IRiskOracle
    function setQuorum(uint8 newQuorum) external onlyRole(GOVERNANCE_ROLE) {
        _setQuorum(newQuorum);
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
    function applyGovernanceUpdate(uint32 modelId, MarketUpdate[] calldata updates, Signature[] calldata signatures)
        external
        onlyRole(GOVERNANCE_ROLE)
        whenNotPaused
    {
        Model memory model = _requireModel(modelId);
        if (!model.active) revert ModelInactive(modelId);
        LayoutConfig memory layout = _layoutConfigs[model.layoutId];
        Report[] memory reports = new Report[](updates.length);
        uint64 previousMarket;
        for (uint256 i = 0; i < updates.length; ++i) {
            reports[i] = updates[i].report;
            Report calldata report = updates[i].report;
            if (i != 0 && report.marketId <= previousMarket) revert MarketsNotIncreasing(previousMarket, report.marketId);
            previousMarket = report.marketId;
            _checkReport(modelId, model.layoutId, report, _timing.maxGovernanceReportAge);
            if (updates[i].values.length != layout.outputCount) {
                revert InstanceCountMismatch(layout.outputCount, updates[i].values.length);
            }
            for (uint256 p = 0; p < layout.outputCount; ++p) {
                if (updates[i].values[p] >= RiskRecords.VALUE_LIMIT) revert InvalidOutput(updates[i].values[p]);
            }
        }
        _checkSignatures(reports, signatures);
        for (uint256 i = 0; i < updates.length; ++i) {
            _store(modelId, model.layoutId, layout.scale, updates[i], true);
        }
    }

    // ------------------------------------------------------------------ updates

    /// @inheritdoc IRiskOracle
    function submitUpdate(ProvedUpdate calldata update) external whenNotPaused {
        _applyWithGuards(update.modelId, _verifiedUpdates(update));
    }

    /// @inheritdoc IRiskOracle
    function verifyUpdate(ProvedUpdate calldata update) external view returns (MarketUpdate[] memory) {
        return _verifiedUpdates(update);
    }

    /// @inheritdoc IRiskOracle
    function reportsDigest(Report[] calldata reports) external view returns (bytes32) {
        return _reportsDigest(reports);
    }

    function _reportsDigest(Report[] memory reports) private view returns (bytes32) {
        bytes32[] memory hashes = new bytes32[](reports.length);
        for (uint256 i = 0; i < reports.length; ++i) {
            Report memory r = reports[i];
            hashes[i] = keccak256(abi.encode(REPORT_TYPEHASH, r.marketId, r.epoch, r.inputHash, r.dataHash, r.observedAt));
        }
        return _hashTypedDataV4(keccak256(abi.encode(REPORT_BATCH_TYPEHASH, keccak256(abi.encodePacked(hashes)))));
    }

    // ------------------------------------------------------------------ reads

    /// @inheritdoc IRiskOracle
    function getLayout(uint16 layoutId) external view returns (Layout memory layout) {
        LayoutConfig memory config = _layoutConfigs[layoutId];
        if (!config.registered) revert UnknownLayout(layoutId);
        layout.scale = config.scale;
        layout.parameterIds = new uint16[](config.outputCount);
        for (uint256 i = 0; i < config.outputCount; ++i) {
            layout.parameterIds[i] = _parameterId(layoutId, i);
        }
        layout.stateIndices = new uint8[](config.stateCount);
        layout.initialState = new uint24[](config.stateCount);
        for (uint256 s = 0; s < config.stateCount; ++s) {
            layout.stateIndices[s] = config.stateIndices[s];
            layout.initialState[s] = config.initialState[s];
        }
    }

    /// @inheritdoc IRiskOracle
    function getModel(uint32 modelId) external view returns (Model memory) {
        return _models[modelId];
    }

    /// @inheritdoc IRiskOracle
    function servesMarket(uint32 modelId, uint64 marketId) external view returns (bool) {
        return _serves[modelId][marketId];
    }

    /// @inheritdoc IRiskOracle
    function getGuards(uint64 marketId, uint16 layoutId) external view returns (Guard[] memory guards) {
        guards = new Guard[](_layoutConfigs[layoutId].outputCount);
        uint256[4] storage packed = _guards[marketId][layoutId];
        for (uint256 i = 0; i < guards.length; ++i) {
            guards[i] = Guardrails.unpack(uint64(packed[i / 4] >> (64 * (i % 4))));
        }
    }

    /// @inheritdoc IRiskOracle
    function timing() external view returns (Timing memory) {
        return _timing;
    }

    /// @inheritdoc IRiskOracle
    function isPublisher(address account) external view returns (bool) {
        return _publishers[account];
    }

    /// @inheritdoc IRiskOracle
    function publisherCount() external view returns (uint8) {
        return _publisherCount;
    }

    /// @inheritdoc IRiskOracle
    function quorum() external view returns (uint8) {
        return _quorum;
    }

    /// @inheritdoc IRiskParameterSource
    function getParameters(uint64 marketId, uint16 layoutId)
        public
        view
        returns (uint256[] memory values, uint64 observedAt, uint64 epoch, uint32 modelId)
    {
        LayoutConfig memory layout = _layoutConfigs[layoutId];
        if (!layout.registered) revert UnknownLayout(layoutId);
        RiskRecords.Record storage record = _records[marketId][layoutId];
        uint256 head = record.head;
        uint256 tail = layout.outputCount > RiskRecords.HEAD_VALUES ? record.tail : 0;
        values = new uint256[](layout.outputCount);
        for (uint256 i = 0; i < values.length; ++i) {
            values[i] = _wad(RiskRecords.valueAt(head, tail, i), layout.scale);
        }
        return (values, RiskRecords.observedAt(head), RiskRecords.epoch(head), RiskRecords.modelId(head));
    }

    /// @inheritdoc IRiskOracle
    function getParameter(uint64 marketId, uint16 parameterId)
        external
        view
        returns (uint256 value, uint64 observedAt, uint64 epoch)
    {
        ParameterSlot memory slot = _parameterSlots[parameterId];
        if (!slot.exists) revert UnknownParameter(parameterId);
        RiskRecords.Record storage record = _records[marketId][slot.layoutId];
        uint256 head = record.head;
        uint256 tail = slot.index >= RiskRecords.HEAD_VALUES ? record.tail : 0;
        value = _wad(RiskRecords.valueAt(head, tail, slot.index), _layoutConfigs[slot.layoutId].scale);
        return (value, RiskRecords.observedAt(head), RiskRecords.epoch(head));
    }

    /// @inheritdoc IRiskOracle
    function getRiskParameters(uint64 marketId) public view returns (RiskParameters memory p) {
        (uint256[] memory v, uint64 observedAt, uint64 epoch, uint32 modelId) =
            getParameters(marketId, RiskLayouts.LENDING);
        p.maxLtv = v[RiskLayouts.LENDING_MAX_LTV];
        // Rounded up: the collateral a borrow needs is never understated.
        p.collateralRatio = p.maxLtv == 0 ? 0 : (WAD * WAD + p.maxLtv - 1) / p.maxLtv;
        p.liquidationThreshold = v[RiskLayouts.LENDING_LT];
        p.volatility = v[RiskLayouts.LENDING_VOL];
        p.valueAtRisk = v[RiskLayouts.LENDING_VAR99];
        p.expectedShortfall = v[RiskLayouts.LENDING_ES99];
        p.observedAt = observedAt;
        p.epoch = epoch;
        p.modelId = modelId;
    }

    /// @inheritdoc IRiskOracle
    function getFreshRiskParameters(uint64 marketId) external view returns (RiskParameters memory p) {
        p = getRiskParameters(marketId);
        if (_isStale(p.observedAt)) revert StaleRiskParameters(marketId, RiskLayouts.LENDING, p.observedAt);
    }

    /// @inheritdoc IRiskParameterSource
    function isStale(uint64 marketId, uint16 layoutId) external view returns (bool) {
        return _isStale(RiskRecords.observedAt(_records[marketId][layoutId].head));
    }

    /// @inheritdoc IRiskParameterSource
    function paused() public view override(IRiskParameterSource, Pausable) returns (bool) {
        return super.paused();
    }

    // ------------------------------------------------------------------ internals

    /// @dev Every check that does not depend on the guards, the proof (the costliest) last. Returns the
    ///      decoded updates (fixed-point values).
    function _verifiedUpdates(ProvedUpdate calldata update) internal view returns (MarketUpdate[] memory updates) {
        uint32 modelId = update.modelId;
        Model memory model = _requireModel(modelId);
        if (!model.active) revert ModelInactive(modelId);
        LayoutConfig memory layout = _layoutConfigs[model.layoutId];
        uint256 k = model.marketsPerProof;
        if (update.reports.length != k) revert BatchSizeMismatch(k, update.reports.length);
        uint256 expected = _firstRow(k, layout) + k * (uint256(layout.outputCount) + layout.stateCount);
        if (update.instances.length != expected) revert InstanceCountMismatch(expected, update.instances.length);
        // The state passes through the circuit at the input scale: it comes back rounded to it.
        uint256 tolerance = layout.scale > model.inputScale ? uint256(1) << (layout.scale - model.inputScale - 1) : 0;

        updates = new MarketUpdate[](k);
        for (uint256 i = 0; i < k; ++i) {
            Report calldata report = update.reports[i];
            if (i != 0 && report.marketId <= update.reports[i - 1].marketId) {
                revert MarketsNotIncreasing(update.reports[i - 1].marketId, report.marketId);
            }
            _checkReport(modelId, model.layoutId, report, _timing.maxReportAge);
            if (report.inputHash != bytes32(update.instances[i])) {
                revert InputHashMismatch(report.marketId, report.inputHash, bytes32(update.instances[i]));
            }
            updates[i] = MarketUpdate({report: report, values: _decodeMarket(update, i, model.layoutId, layout, tolerance)});
        }
        _checkSignatures(update.reports, update.signatures);
        if (!_proofVerifies(model, update.proof, update.instances)) revert InvalidProof(modelId);
    }

    /// @dev Instances before the first market's outputs: the K input hashes and, with state, its hash.
    function _firstRow(uint256 k, LayoutConfig memory layout) private pure returns (uint256) {
        return k + (layout.stateCount == 0 ? 0 : 1);
    }

    /// @dev Market `i`'s outputs (each must fit the stored 24 bits), after checking its passed-through state.
    function _decodeMarket(
        ProvedUpdate calldata update,
        uint256 i,
        uint16 layoutId,
        LayoutConfig memory layout,
        uint256 tolerance
    ) private view returns (uint256[] memory values) {
        uint256 k = update.reports.length;
        uint256 row = _firstRow(k, layout) + i * (uint256(layout.outputCount) + layout.stateCount);
        values = new uint256[](layout.outputCount);
        for (uint256 p = 0; p < values.length; ++p) {
            uint256 felt = update.instances[row + p];
            if (felt >= RiskRecords.VALUE_LIMIT) revert InvalidOutput(felt);
            values[p] = felt;
        }
        _checkState(update.reports[i].marketId, layoutId, layout, update.instances, row + layout.outputCount, tolerance);
    }

    /// @dev Guards for the whole batch, then the writes (validate-then-apply).
    function _applyWithGuards(uint32 modelId, MarketUpdate[] memory updates) internal {
        uint16 layoutId = _models[modelId].layoutId;
        LayoutConfig memory layout = _layoutConfigs[layoutId];
        for (uint256 i = 0; i < updates.length; ++i) {
            _checkGuards(layoutId, layout, updates[i]);
        }
        for (uint256 i = 0; i < updates.length; ++i) {
            _store(modelId, layoutId, layout.scale, updates[i], false);
        }
    }

    /// @dev A report for `modelId`: served market, next epoch, observed on its epoch's day (an epoch is a UTC
    ///      day; data up to its start is observed at its start), not in the future and within `maxAge`.
    function _checkReport(uint32 modelId, uint16 layoutId, Report calldata report, uint64 maxAge) internal view {
        if (!_serves[modelId][report.marketId]) revert MarketNotServed(modelId, report.marketId);
        uint256 head = _records[report.marketId][layoutId].head;
        uint64 lastEpoch = RiskRecords.epoch(head);
        if (RiskRecords.observedAt(head) != 0 && report.epoch <= lastEpoch) {
            revert EpochNotIncreasing(report.marketId, report.epoch, lastEpoch);
        }
        if (report.observedAt / DAY != report.epoch || report.observedAt > block.timestamp) {
            revert ObservationOutOfRange(report.marketId, report.epoch, report.observedAt);
        }
        if (block.timestamp - report.observedAt > maxAge) {
            revert ReportTooOld(report.marketId, report.epoch, report.observedAt);
        }
    }

    /// @dev The passed-through policy state equals the stored state (the layout's initial state before a
    ///      first update) within the input rounding.
    function _checkState(
        uint64 marketId,
        uint16 layoutId,
        LayoutConfig memory layout,
        uint256[] calldata instances,
        uint256 start,
        uint256 tolerance
    ) private view {
        if (layout.stateCount == 0) return;
        (bool stored, uint256[] memory values) = _storedValues(_records[marketId][layoutId], layout);
        for (uint256 s = 0; s < layout.stateCount; ++s) {
            uint256 expected = stored ? values[layout.stateIndices[s]] : layout.initialState[s];
            uint256 proved = instances[start + s];
            uint256 delta = proved > expected ? proved - expected : expected - proved;
            if (delta > tolerance) revert StateMismatch(marketId, s, expected, proved);
        }
    }

    /// @dev At least `quorum` distinct current publishers signed the batch digest. Signatures that do not
    ///      recover to a current publisher, or break the increasing signer order, are not counted: a
    ///      rogue or revoked key can add nothing and block nothing.
    function _checkSignatures(Report[] memory reports, Signature[] calldata signatures) private view {
        bytes32 digest = _reportsDigest(reports);
        uint256 valid;
        address last;
        for (uint256 i = 0; i < signatures.length; ++i) {
            (address signer, ECDSA.RecoverError error,) = ECDSA.tryRecover(digest, signatures[i].r, signatures[i].vs);
            if (error == ECDSA.RecoverError.NoError && signer > last && _publishers[signer]) {
                last = signer;
                ++valid;
            }
        }
        if (valid < _quorum) revert InsufficientSignatures(valid, _quorum);
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

    function _checkGuards(uint16 layoutId, LayoutConfig memory layout, MarketUpdate memory u) private view {
        uint64 marketId = u.report.marketId;
        (bool hasPrevious, uint256[] memory previous) = _storedValues(_records[marketId][layoutId], layout);
        uint256[4] storage packed = _guards[marketId][layoutId];
        for (uint256 p = 0; p < layout.outputCount; ++p) {
            uint64 guard = uint64(packed[p / 4] >> (64 * (p % 4)));
            Guardrails.Failure failure = Guardrails.check(guard, u.values[p], hasPrevious, previous[p], layout.scale);
            if (failure == Guardrails.Failure.BOUNDS) {
                revert ParameterOutOfBounds(marketId, _parameterId(layoutId, p),
                    _wad(u.values[p], layout.scale), uint16(guard), uint16(guard >> 16));
            }
            if (failure == Guardrails.Failure.STEP) {
                revert ParameterStepTooLarge(marketId, _parameterId(layoutId, p),
                    _wad(previous[p], layout.scale), _wad(u.values[p], layout.scale));
            }
        }
    }

    /// @dev A record's fixed-point values (all zero before a first update) and whether it has any.
    function _storedValues(RiskRecords.Record storage record, LayoutConfig memory layout)
        private
        view
        returns (bool stored, uint256[] memory values)
    {
        uint256 head = record.head;
        stored = RiskRecords.observedAt(head) != 0;
        uint256 tail = stored && layout.outputCount > RiskRecords.HEAD_VALUES ? record.tail : 0;
        values = new uint256[](layout.outputCount);
        for (uint256 i = 0; i < values.length; ++i) {
            values[i] = RiskRecords.valueAt(head, tail, i);
        }
    }

    function _store(uint32 modelId, uint16 layoutId, uint8 scale, MarketUpdate memory u, bool governanceOverride)
        private
    {
        Report memory r = u.report;
        (uint256 head, uint256 tail) = RiskRecords.pack(modelId, r.epoch, r.observedAt, u.values);
        RiskRecords.Record storage record = _records[r.marketId][layoutId];
        record.head = head;
        if (u.values.length > RiskRecords.HEAD_VALUES) record.tail = tail;
        uint256[] memory wads = new uint256[](u.values.length);
        for (uint256 i = 0; i < wads.length; ++i) {
            wads[i] = _wad(u.values[i], scale);
        }
        emit RiskParametersUpdated(
            r.marketId, layoutId, r.epoch, modelId, r.inputHash, r.dataHash, r.observedAt, wads, governanceOverride
        );
    }

    function _parameterId(uint16 layoutId, uint256 index) private view returns (uint16) {
        return uint16(_layoutParameterIds[layoutId] >> (16 * index));
    }

    function _wad(uint256 fixedPoint, uint8 scale) private pure returns (uint256) {
        return (fixedPoint * WAD) >> scale;
    }

    function _isStale(uint64 observedAt) private view returns (bool) {
        return observedAt == 0 || block.timestamp - observedAt > _timing.stalenessPeriod;
    }

    function _requireModel(uint32 modelId) internal view returns (Model memory model) {
        model = _models[modelId];
        if (model.verifier == address(0)) revert UnknownModel(modelId);
    }

    function _setMarkets(uint32 modelId, uint16 layoutId, uint64[] calldata marketIds, bool served) private {
        for (uint256 i = 0; i < marketIds.length; ++i) {
            if (served && !_guardsSet[marketIds[i]][layoutId]) revert GuardsNotSet(marketIds[i], layoutId);
            _serves[modelId][marketIds[i]] = served;
            emit ModelMarketChanged(modelId, marketIds[i], served);
        }
    }

    function _setPublisher(address publisher, bool active) private {
        if (publisher == address(0) || _publishers[publisher] == active) revert PublisherUnchanged(publisher);
        _publishers[publisher] = active;
        if (active) ++_publisherCount;
        else --_publisherCount;
        emit PublisherChanged(publisher, active);
    }

    function _setQuorum(uint8 newQuorum) private {
        if (newQuorum == 0 || newQuorum > _publisherCount) revert InvalidQuorum(newQuorum, _publisherCount);
        _quorum = newQuorum;
        emit QuorumChanged(newQuorum);
    }

    /// @dev A staleness period shorter than the report age would serve reports stale on arrival; a zero
    ///      age would refuse everything; governance may not be held to a shorter age than keepers.
    function _setTiming(Timing memory newTiming) private {
        if (
            newTiming.maxReportAge == 0 || newTiming.stalenessPeriod < newTiming.maxReportAge
                || newTiming.maxGovernanceReportAge < newTiming.maxReportAge
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

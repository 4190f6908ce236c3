"""RiskOracle on the test verifier: layouts, models, guards, timing and roles; every check of
`submitUpdate` besides the zk proof itself (instances, outputs, policy state, the verifier's answer);
the per-market, per-parameter, per-direction guards and a market that is never frozen by a rejected
update; storage and reads; governance updates and what they re-check at execution.
Signatures and report checks are in test_signatures.py, real proofs in test_proofs.py."""

from __future__ import annotations

import ape
import pytest
from eth_abi import encode
from eth_utils import keccak

from chain_helpers import (BTC, DAY, ETH, LENDING_GUARDS, POLICIES, START_EPOCH, TEST_BATCH_MODEL, TEST_INPUT_SCALE,
                           TEST_MODEL, TEST_OPTIONS_MODEL, TIMING, UNLIMITED, UNLISTED, apply_governance, at_epoch,
                           fixed, guard_of, lending, market_updates, policy_step, report, sign, signature_tuples, submit,
                           test_update, verifier_instances)
from models.policy import STATE_ROUNDING
from models.spec import FIELD_MODULUS, LAYOUTS, LENDING, OPTIONS, felt_to_wad
from oracle.chain.deploy import stored_state, wad_to_fixed
from oracle.chain.layouts import layout_tuple

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

EPOCH = START_EPOCH
SCALE = LENDING.scale
LTV_ID, LT_ID = LENDING.output("max_ltv").parameter_id, LENDING.output("lt").parameter_id
#: The passed-through state comes back rounded to the input scale: within half its unit at scale 20.
STATE_TOLERANCE = 1 << (SCALE - TEST_INPUT_SCALE - 1)
#: Instance index of market 0's first state value (K=1: input hash, state hash, 5 outputs).
STATE_ROW = 2 + len(LENDING.outputs)
#: Verifier modes of contracts/test/TestVerifier.sol.
ACCEPT, REJECT, SHORT_RETURN, REVERT = range(4)
#: A model id no fixture registers.
UNREGISTERED_MODEL = 999


def units(value: int) -> float:
    """The float whose fixed-point integer at scale 20 is exactly `value`."""
    return value / 2**SCALE


def to_wad(value: float) -> int:
    return felt_to_wad(fixed(value), SCALE)


def stored(oracle, market: int = BTC, layout=LENDING) -> dict[str, int]:
    """The stored fixed-point integers by output name."""
    values = oracle.getParameters(market, layout.layout_id)[0]
    return {name: wad_to_fixed(v, layout.scale) for name, v in zip(layout.names, values)}


def signers(publishers):
    return publishers[:2]


def first_update(oracle, publishers, keeper, market: int = BTC, **values: float):
    """A market's first update (bounds only), the default values with the named ones replaced."""
    return submit(oracle, keeper, signers(publishers), [report(market, EPOCH)], [lending(**values)])


def governance_update(oracle, owner, publishers, reports, values, model: int = TEST_MODEL):
    return apply_governance(oracle, owner, signers(publishers), reports, values, model)


# ---------------------------------------------------------------- layouts

@pytest.mark.parametrize("layout", LAYOUTS.values(), ids=lambda layout: layout.name)
def test_getLayout_is_the_models_spec_layout(oracle, layout):
    assert tuple(oracle.getLayout(layout.layout_id)) == tuple(layout_tuple(layout))


def test_registerLayout_twice_reverts_LayoutAlreadyRegistered(oracle, owner):
    with ape.reverts(oracle.LayoutAlreadyRegistered, layoutId=LENDING.layout_id):
        oracle.registerLayout(LENDING.layout_id, layout_tuple(LENDING), sender=owner)


@pytest.mark.parametrize("layout", [
    (20, [], [], []),  # no outputs
    (20, list(range(100, 117)), [], []),  # 17 outputs: more than a record holds
    (0, [100], [], []), (24, [100], [], []),  # scale outside 1..23
    (20, [100, 101], [2], [1]),  # state index out of range
    (20, [100, 101], [0, 0], [1, 1]),  # repeated state index
    (20, [100, 101], [0], []),  # state without its initial value
    (20, [100, LT_ID], [], []),  # parameter id taken by the lending layout
], ids=["empty", "too-many", "scale-0", "scale-24", "state-range", "state-repeat", "no-initial", "taken-id"])
def test_registerLayout_unusable_reverts_InvalidLayout(oracle, owner, layout):
    with ape.reverts(oracle.InvalidLayout, layoutId=3):
        oracle.registerLayout(3, layout, sender=owner)


def test_registerLayout_new_layout_is_served_by_getParameter(oracle, owner):
    tx = oracle.registerLayout(3, (16, [100, 101], [], []), sender=owner)
    assert tx.events.filter(oracle.LayoutRegistered)[0].layoutId == 3
    assert tuple(oracle.getParameter(BTC, 101)) == (0, 0, 0)


def test_getLayout_unknown_reverts_UnknownLayout(oracle):
    with ape.reverts(oracle.UnknownLayout, layoutId=99):
        oracle.getLayout(99)
    with ape.reverts(oracle.UnknownLayout, layoutId=99):
        oracle.getParameters(BTC, 99)


def test_getParameter_unknown_reverts_UnknownParameter(oracle):
    with ape.reverts(oracle.UnknownParameter, parameterId=99):
        oracle.getParameter(BTC, 99)


# ---------------------------------------------------------------- models

def test_getModel_returns_the_registration(oracle, test_verifier):
    model = oracle.getModel(TEST_BATCH_MODEL)
    assert (model.verifier, model.layoutId, model.inputScale, model.marketsPerProof, model.active) == \
        (test_verifier.address, LENDING.layout_id, TEST_INPUT_SCALE, 2, True)
    assert model.vkaPointer == "0x" + "00" * 20 and model.vkaWords == 0
    assert oracle.servesMarket(TEST_MODEL, BTC) and not oracle.servesMarket(TEST_MODEL, UNLISTED)


def test_registerModel_twice_reverts_ModelAlreadyRegistered(oracle, owner, test_verifier):
    with ape.reverts(oracle.ModelAlreadyRegistered, modelId=TEST_MODEL):
        oracle.registerModel(TEST_MODEL, test_verifier.address, [], LENDING.layout_id, 13, 1, [BTC], sender=owner)


@pytest.mark.parametrize("verifier,layout,input_scale,k", [
    ("attacker", 1, 13, 1),  # no code
    ("verifier", 99, 13, 1),  # unknown layout
    ("verifier", 1, 21, 1),  # input scale above the layout's
    ("verifier", 1, 13, 0), ("verifier", 1, 13, 65),  # K outside 1..MAX_BATCH
], ids=["no-code", "unknown-layout", "input-scale", "k-0", "k-65"])
def test_registerModel_unusable_reverts_InvalidModelConfig(oracle, owner, attacker, test_verifier, verifier, layout,
                                                           input_scale, k):
    address = attacker.address if verifier == "attacker" else test_verifier.address
    with ape.reverts(oracle.InvalidModelConfig, modelId=10):
        oracle.registerModel(10, address, [], layout, input_scale, k, [BTC], sender=owner)


def test_registerModel_market_without_guards_reverts_GuardsNotSet(oracle, owner, test_verifier):
    with ape.reverts(oracle.GuardsNotSet, marketId=UNLISTED, layoutId=LENDING.layout_id):
        oracle.registerModel(10, test_verifier.address, [], LENDING.layout_id, 13, 1, [BTC, UNLISTED], sender=owner)


def test_setModelMarkets_unserved_market_reverts_MarketNotServed(oracle, owner, publishers, keeper):
    tx = oracle.setModelMarkets(TEST_MODEL, [BTC], False, sender=owner)
    assert not tx.events.filter(oracle.ModelMarketChanged)[0].served
    with ape.reverts(oracle.MarketNotServed, modelId=TEST_MODEL, marketId=BTC):
        first_update(oracle, publishers, keeper)
    oracle.setModelMarkets(TEST_MODEL, [BTC], True, sender=owner)
    first_update(oracle, publishers, keeper)


def test_setModelActive_retired_model_reverts_ModelInactive(oracle, owner, publishers, keeper):
    oracle.setModelActive(TEST_MODEL, False, sender=owner)
    assert not oracle.getModel(TEST_MODEL).active
    with ape.reverts(oracle.ModelInactive, modelId=TEST_MODEL):
        first_update(oracle, publishers, keeper)


@pytest.mark.parametrize("call,args", [("setModelActive", (False,)), ("setModelMarkets", ([BTC], False))])
def test_model_setters_unknown_model_revert_UnknownModel(oracle, owner, call, args):
    with ape.reverts(oracle.UnknownModel, modelId=99):
        getattr(oracle, call)(99, *args, sender=owner)


# ---------------------------------------------------------------- guards and timing

@pytest.mark.parametrize("market", [BTC, ETH])
def test_getGuards_are_the_model_cards_guards(oracle, market):
    assert [tuple(g) for g in oracle.getGuards(market, LENDING.layout_id)] == list(LENDING_GUARDS[market])


@pytest.mark.parametrize("guards,index", [
    ("short", 4), ("min>max", 3), ("zero-increase", 4), ("zero-decrease", 0)])
def test_setGuards_unusable_reverts_InvalidGuard(oracle, owner, guards, index):
    rows = [list(g) for g in LENDING_GUARDS[BTC]]
    if guards == "short":
        rows = rows[:4]
    else:
        field = {"min>max": 0, "zero-increase": 2, "zero-decrease": 3}[guards]
        rows[index][field] = rows[index][1] + 1 if guards == "min>max" else 0
    with ape.reverts(oracle.InvalidGuard, marketId=BTC, layoutId=LENDING.layout_id, index=index):
        oracle.setGuards(BTC, LENDING.layout_id, rows, sender=owner)


def test_setGuards_unknown_layout_reverts_UnknownLayout(oracle, owner):
    with ape.reverts(oracle.UnknownLayout, layoutId=99):
        oracle.setGuards(BTC, 99, list(LENDING_GUARDS[BTC]), sender=owner)


def test_setGuards_changes_one_market_only(oracle, owner):
    tighter = [list(g) for g in LENDING_GUARDS[ETH]]
    tighter[LENDING.index["lt"]][3] = 10
    tx = oracle.setGuards(ETH, LENDING.layout_id, tighter, sender=owner)
    assert tx.events.filter(oracle.GuardsChanged)[0].marketId == ETH
    assert guard_of(oracle, ETH, "lt")[3] == 10 and guard_of(oracle, BTC, "lt") == tuple(LENDING_GUARDS[BTC][4])


@pytest.mark.parametrize("timing", [(0, 10, 10), (10, 10, 9), (10, 9, 10)],
                         ids=["zero-age", "staleness-below-age", "governance-below-age"])
def test_setTiming_unusable_reverts_InvalidTiming(oracle, owner, timing):
    with ape.reverts(oracle.InvalidTiming):
        oracle.setTiming(timing, sender=owner)


def test_setTiming_stores_and_emits(oracle, owner):
    tx = oracle.setTiming((DAY, DAY, 2 * DAY), sender=owner)
    assert tuple(oracle.timing()) == (DAY, DAY, 2 * DAY)
    assert tuple(tx.events.filter(oracle.TimingChanged)[0].timing) == (DAY, DAY, 2 * DAY)


# ---------------------------------------------------------------- roles and pause

def admin_calls(oracle, test_verifier, attacker):
    """Every function only governance may call, with arguments that would otherwise succeed."""
    r = report(BTC, EPOCH)
    return {
        "registerLayout": (3, (16, [100], [], [])),
        "registerModel": (10, test_verifier.address, [], LENDING.layout_id, 13, 1, [BTC]),
        "setModelActive": (TEST_MODEL, False),
        "setModelMarkets": (TEST_MODEL, [BTC], False),
        "setGuards": (BTC, LENDING.layout_id, list(LENDING_GUARDS[BTC])),
        "setTiming": (TIMING.as_tuple(),),
        "setPublisher": (attacker.address, True),
        "setQuorum": (1,),
        "applyGovernanceUpdate": (TEST_MODEL, market_updates([r], [lending()]), []),
        "grantRole": (oracle.GUARDIAN_ROLE(), attacker.address),
    }


@pytest.mark.parametrize("call", ["registerLayout", "registerModel", "setModelActive", "setModelMarkets", "setGuards",
                                  "setTiming", "setPublisher", "setQuorum", "applyGovernanceUpdate", "grantRole"])
def test_governance_functions_by_attacker_revert_AccessControlUnauthorizedAccount(oracle, test_verifier, attacker,
                                                                                  guardian, call):
    args = admin_calls(oracle, test_verifier, attacker)[call]
    for account in (attacker, guardian):  # the guardian pauses, nothing more
        with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=account.address,
                         neededRole=oracle.GOVERNANCE_ROLE()):
            getattr(oracle, call)(*args, sender=account)


@pytest.mark.parametrize("call", ["pause", "unpause"])
def test_guardian_functions_by_others_revert_AccessControlUnauthorizedAccount(oracle, owner, attacker, guardian, call):
    if call == "unpause":
        oracle.pause(sender=guardian)
    for account in (attacker, owner):  # governance does not pause: the guardian does
        with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=account.address,
                         neededRole=oracle.GUARDIAN_ROLE()):
            getattr(oracle, call)(sender=account)


def test_submitUpdate_paused_reverts_EnforcedPause_and_resumes(oracle, guardian, publishers, keeper):
    oracle.pause(sender=guardian)
    assert oracle.paused()
    with ape.reverts(oracle.EnforcedPause):
        first_update(oracle, publishers, keeper)
    oracle.unpause(sender=guardian)
    first_update(oracle, publishers, keeper)
    assert oracle.getParameters(BTC, LENDING.layout_id)[2] == EPOCH


def test_unpause_when_not_paused_reverts_ExpectedPause(oracle, guardian):
    with ape.reverts(oracle.ExpectedPause):
        oracle.unpause(sender=guardian)


# ---------------------------------------------------------------- submitUpdate: model, instances, proof

def test_submitUpdate_unknown_model_reverts_UnknownModel(oracle, publishers, keeper):
    with ape.reverts(oracle.UnknownModel, modelId=99):
        submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH)], [lending()], model=99)


def test_submitUpdate_more_reports_than_model_k_reverts_BatchSizeMismatch(oracle, publishers, keeper):
    reports = [report(BTC, EPOCH), report(ETH, EPOCH)]
    with ape.reverts(oracle.BatchSizeMismatch, expected=1, actual=2):
        submit(oracle, keeper, signers(publishers), reports, [lending()] * 2)


@pytest.mark.parametrize("change", [-1, 1])
def test_submitUpdate_wrong_instance_count_reverts_InstanceCountMismatch(oracle, publishers, keeper, change):
    r = report(BTC, EPOCH)
    instances = verifier_instances(LENDING, [r], [lending()])
    instances = instances[:-1] if change < 0 else instances + [0]
    with ape.reverts(oracle.InstanceCountMismatch, expected=LENDING.instance_count(1), actual=len(instances)):
        submit(oracle, keeper, signers(publishers), [r], [lending()], instances=instances)


def test_submitUpdate_other_input_hash_reverts_InputHashMismatch(oracle, publishers, keeper):
    r = report(BTC, EPOCH)
    instances = verifier_instances(LENDING, [r], [lending()])
    instances[0] += 1
    with ape.reverts(oracle.InputHashMismatch, marketId=BTC, reported=r.input_hash,
                     proved=instances[0].to_bytes(32, "big")):
        submit(oracle, keeper, signers(publishers), [r], [lending()], instances=instances)


@pytest.mark.parametrize("felt", [1 << 24, FIELD_MODULUS - 1, FIELD_MODULUS // 2 + 1],
                         ids=["above-24-bits", "minus-one", "negative"])
def test_submitUpdate_output_outside_24_bits_reverts_InvalidOutput(oracle, publishers, keeper, felt):
    r = report(BTC, EPOCH)
    instances = verifier_instances(LENDING, [r], [lending()])
    instances[2 + LENDING.index["lt"]] = felt
    with ape.reverts(oracle.InvalidOutput, felt=felt):
        submit(oracle, keeper, signers(publishers), [r], [lending()], instances=instances)


@pytest.mark.parametrize("mode", [REJECT, SHORT_RETURN, REVERT], ids=["false", "short-return", "revert"])
def test_submitUpdate_verifier_says_no_reverts_InvalidProof(oracle, test_verifier, owner, publishers, keeper, mode):
    test_verifier.setMode(mode, sender=owner)
    update = test_update(oracle, signers(publishers), [report(BTC, EPOCH)], [lending()])
    with ape.reverts(oracle.InvalidProof, modelId=TEST_MODEL):
        oracle.submitUpdate(update, sender=keeper)
    with ape.reverts(oracle.InvalidProof, modelId=TEST_MODEL):
        oracle.verifyUpdate(update)


def test_registerModel_verifier_registering_another_digest_reverts_VkaDigestMismatch(oracle, test_verifier, owner):
    vka = [bytes([i]) * 32 for i in (1, 2)]
    expected, actual = keccak(b"".join(vka)), keccak(encode(["bytes32[]"], [vka]))
    with ape.reverts(oracle.VkaDigestMismatch, expected=expected, actual=actual):
        oracle.registerModel(UNREGISTERED_MODEL, test_verifier.address, vka, LENDING.layout_id, TEST_INPUT_SCALE, 1,
                             [BTC], sender=owner)


def test_verifyUpdate_returns_the_decoded_updates_without_storing(oracle, publishers):
    reports = [report(BTC, EPOCH), report(ETH, EPOCH)]
    values = [lending(), lending(lt=0.79)]
    decoded = oracle.verifyUpdate(test_update(oracle, signers(publishers), reports, values, model=TEST_BATCH_MODEL))
    assert [(tuple(u.report), list(u.values)) for u in decoded] == \
        [(r, v) for r, v in market_updates(reports, values)]
    assert oracle.getParameters(BTC, LENDING.layout_id)[1] == 0


# ---------------------------------------------------------------- policy state

def test_submitUpdate_first_update_not_from_initial_state_reverts_StateMismatch(oracle, publishers, keeper):
    initial = [fixed(v) for v in LENDING.initial_state]
    with ape.reverts(oracle.StateMismatch, marketId=BTC, stateIndex=1, stored=initial[1], proved=fixed(0.80)):
        submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH)], [lending()],
               state=[(LENDING.initial_state[0], 0.80)])


def test_submitUpdate_state_other_than_stored_reverts_StateMismatch(oracle, publishers, keeper, chain):
    first_update(oracle, publishers, keeper, max_ltv=0.72, lt=0.785)
    at_epoch(chain, EPOCH + 1)
    with ape.reverts(oracle.StateMismatch, marketId=BTC, stateIndex=0, stored=fixed(0.72),
                     proved=fixed(LENDING.initial_state[0])):
        # a proof stepping from the initial state, not from what the oracle stored
        submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [lending()],
               state=[LENDING.initial_state])


@pytest.mark.parametrize("offset,accepted", [(STATE_TOLERANCE, True), (-STATE_TOLERANCE, True),
                                             (STATE_TOLERANCE + 1, False), (-STATE_TOLERANCE - 1, False)])
def test_submitUpdate_state_within_input_rounding_lands_beyond_reverts_StateMismatch(oracle, publishers, keeper,
                                                                                     offset, accepted):
    r = report(BTC, EPOCH)
    instances = verifier_instances(LENDING, [r], [lending()])
    instances[STATE_ROW + 1] += offset
    if accepted:
        submit(oracle, keeper, signers(publishers), [r], [lending()], instances=instances)
        assert stored(oracle)["lt"] == fixed(lending()[LENDING.index["lt"]])
    else:
        with ape.reverts(oracle.StateMismatch, marketId=BTC, stateIndex=1, stored=fixed(LENDING.initial_state[1]),
                         proved=instances[STATE_ROW + 1]):
            submit(oracle, keeper, signers(publishers), [r], [lending()], instances=instances)


def test_submitUpdate_options_layout_has_no_state(oracle, publishers, keeper):
    r = report(BTC, EPOCH)
    values = (0.08, 0.09, 0.25, 0.15, 0.60)
    submit(oracle, keeper, signers(publishers), [r], [values], model=TEST_OPTIONS_MODEL, layout=OPTIONS)
    assert list(oracle.getParameters(BTC, OPTIONS.layout_id)[0]) == [to_wad(v) for v in values]
    assert oracle.getParameters(BTC, LENDING.layout_id)[1] == 0  # layouts are stored apart


# ---------------------------------------------------------------- guards on submitUpdate (issue 10)

@pytest.mark.parametrize("name,side", [("max_ltv", "min"), ("max_ltv", "max"), ("lt", "min"), ("lt", "max")])
def test_submitUpdate_first_update_outside_bounds_reverts_ParameterOutOfBounds(oracle, publishers, keeper, name,
                                                                               side):
    min_bp, max_bp, _, _ = guard_of(oracle, BTC, name)
    value = (min_bp - 1) / 1e4 if side == "min" else (max_bp + 1) / 1e4
    values = {"max_ltv": 0.5, "lt": 0.6, name: value}  # the other value within its bounds
    with ape.reverts(oracle.ParameterOutOfBounds, marketId=BTC, parameterId=LENDING.output(name).parameter_id,
                     value=to_wad(value), minBp=min_bp, maxBp=max_bp):
        first_update(oracle, publishers, keeper, **values)


def step_from_stored(oracle, name: str, delta_units: int) -> tuple[float, ...]:
    """The stored values with `name` moved by `delta_units` fixed-point units, the rest unchanged."""
    current = stored(oracle)
    return lending(**{n: units(v) for n, v in current.items()} | {name: units(current[name] + delta_units)})


def step_limit_units(oracle, name: str, up: bool) -> int:
    """The largest change in fixed-point units the guard allows (v·10000 <= bp·2^20)."""
    bp = guard_of(oracle, BTC, name)[2 if up else 3]
    return bp * 2**SCALE // 10_000


@pytest.mark.parametrize("name,up", [("max_ltv", True), ("lt", True), ("lt", False)],
                         ids=["max_ltv-loosens", "lt-rises", "lt-falls"])
def test_submitUpdate_step_at_guard_lands_one_unit_more_reverts_ParameterStepTooLarge(oracle, publishers, keeper,
                                                                                      chain, name, up):
    first_update(oracle, publishers, keeper, max_ltv=0.70, lt=0.78)
    limit = step_limit_units(oracle, name, up)
    previous = stored(oracle)[name]
    at_epoch(chain, EPOCH + 1)
    sign_of = 1 if up else -1
    too_far = step_from_stored(oracle, name, sign_of * (limit + 1))
    with ape.reverts(oracle.ParameterStepTooLarge, marketId=BTC, parameterId=LENDING.output(name).parameter_id,
                     previous=felt_to_wad(previous, SCALE), value=felt_to_wad(previous + sign_of * (limit + 1), SCALE)):
        submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [too_far])
    submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [step_from_stored(oracle, name, sign_of * limit)])
    assert stored(oracle)[name] == previous + sign_of * limit


def test_submitUpdate_max_ltv_tightens_at_once_and_forecasts_move_freely(oracle, publishers, keeper, chain):
    assert guard_of(oracle, BTC, "max_ltv")[3] == UNLIMITED
    assert all(guard_of(oracle, BTC, n)[2:] == (UNLIMITED, UNLIMITED) for n in ("vol", "var99", "es99"))
    first_update(oracle, publishers, keeper, vol=0.02, var99=0.05, es99=0.06, max_ltv=0.78, lt=0.79)
    at_epoch(chain, EPOCH + 1)
    crash = lending(vol=0.20, var99=0.45, es99=0.55, max_ltv=0.31, lt=0.785)
    submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [crash])
    assert stored(oracle) == dict(zip(LENDING.names, (fixed(v) for v in crash)))


def test_submitUpdate_guards_are_per_market(oracle, owner, publishers, keeper, chain):
    tighter = [list(g) for g in LENDING_GUARDS[ETH]]
    tighter[LENDING.index["lt"]][3] = 10  # ETH's LT may fall 0.1 points a day, BTC's its card's step
    oracle.setGuards(ETH, LENDING.layout_id, tighter, sender=owner)
    for market in (BTC, ETH):
        first_update(oracle, publishers, keeper, market=market)
    at_epoch(chain, EPOCH + 1)
    step = lending(lt=0.775)
    submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [step])
    with ape.reverts(oracle.ParameterStepTooLarge, marketId=ETH, parameterId=LT_ID):
        submit(oracle, keeper, signers(publishers), [report(ETH, EPOCH + 1)], [step])


def test_submitUpdate_one_market_failing_its_guard_rejects_the_whole_batch(oracle, publishers, keeper, chain):
    reports = [report(BTC, EPOCH), report(ETH, EPOCH)]
    submit(oracle, keeper, signers(publishers), reports, [lending()] * 2, model=TEST_BATCH_MODEL)
    at_epoch(chain, EPOCH + 1)
    reports = [report(BTC, EPOCH + 1), report(ETH, EPOCH + 1)]
    with ape.reverts(oracle.ParameterStepTooLarge, marketId=ETH, parameterId=LT_ID):
        submit(oracle, keeper, signers(publishers), reports, [lending(lt=0.781), lending(lt=0.70)],
               model=TEST_BATCH_MODEL)
    assert oracle.getParameters(BTC, LENDING.layout_id)[2] == EPOCH  # BTC not stored either


def test_submitUpdate_after_a_rejected_update_the_next_policy_step_lands(oracle, publishers, keeper, chain):
    """A wrong model's 4-point LT cut (beyond BTC's 3.55-point step) is rejected and leaves the stored state as it was; the market is not
    frozen: the proved policy steps from the stored state, so its update lands on every day of a crash
    (LT down one step a day, max LTV cut at once and kept the buffer below LT)."""
    policy = POLICIES["BTC"]
    submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH)], [policy_step(oracle, BTC, es99=0.10)])
    before = stored(oracle)
    at_epoch(chain, EPOCH + 1)
    wrong = lending(max_ltv=units(before["max_ltv"]), lt=units(before["lt"]) - 0.04)
    with ape.reverts(oracle.ParameterStepTooLarge, marketId=BTC, parameterId=LT_ID):
        submit(oracle, keeper, signers(publishers), [report(BTC, EPOCH + 1)], [wrong])
    assert stored(oracle) == before

    lts = [units(before["lt"])]
    for epoch in range(EPOCH + 1, EPOCH + 8):
        at_epoch(chain, epoch)
        step = policy_step(oracle, BTC, es99=1.0)  # a target below the LT floor: a full step each day
        submit(oracle, keeper, signers(publishers), [report(BTC, epoch)], [step])
        now = stored(oracle)
        lts.append(units(now["lt"]))
        assert now["max_ltv"] == fixed(step[LENDING.index["max_ltv"]])
        assert units(now["lt"]) - units(now["max_ltv"]) >= policy.buffer - 2 / 2**SCALE
    # a step of lt_down less STATE_ROUNDING from the state as the input scale rounds it: never more than the card's
    assert all(policy.lt_down - 2 * STATE_ROUNDING - 2 / 2**SCALE <= a - b <= policy.lt_down + 2 / 2**SCALE
               for a, b in zip(lts, lts[1:]))


# ---------------------------------------------------------------- storage and reads

def test_getRiskParameters_reads_the_lending_layout_in_wad(oracle, publishers, keeper):
    values = lending(vol=0.031, var99=0.071, es99=0.093, max_ltv=0.6875, lt=0.7625)
    tx = first_update(oracle, publishers, keeper, **dict(zip(LENDING.names, values)))
    p = oracle.getRiskParameters(BTC)
    wads = {name: to_wad(v) for name, v in zip(LENDING.names, values)}
    assert (p.volatility, p.valueAtRisk, p.expectedShortfall, p.maxLtv, p.liquidationThreshold) == \
        (wads["vol"], wads["var99"], wads["es99"], wads["max_ltv"], wads["lt"])
    assert p.collateralRatio == -(-10**36 // wads["max_ltv"])  # 1 / max LTV, rounded up
    assert (p.epoch, p.modelId) == (EPOCH, TEST_MODEL)
    [event] = tx.events.filter(oracle.RiskParametersUpdated)
    assert list(event.values) == list(wads.values())
    for name, output in zip(LENDING.names, LENDING.outputs):
        assert tuple(oracle.getParameter(BTC, output.parameter_id)) == (wads[name], p.observedAt, EPOCH)


def test_getRiskParameters_before_any_update_is_zero(oracle):
    p = oracle.getRiskParameters(ETH)
    assert (p.maxLtv, p.collateralRatio, p.observedAt, p.epoch, p.modelId) == (0, 0, 0, 0, 0)
    assert oracle.isStale(ETH, LENDING.layout_id)
    with ape.reverts(oracle.StaleRiskParameters, marketId=ETH, layoutId=LENDING.layout_id, observedAt=0):
        oracle.getFreshRiskParameters(ETH)


@pytest.mark.parametrize("values", [(0, 1, 2, 3, 4), ((1 << 24) - 1,) * 5, (1 << 23, 5, (1 << 24) - 2, 0, 1 << 20)],
                         ids=["smallest", "largest", "mixed"])
def test_storage_round_trips_every_24_bit_value_exactly(oracle, owner, publishers, values):
    """Packed records keep the proof's integers: the WAD read is floor(v * 1e18 / 2^20) (below 1e-18 of
    the value) and the integer is recovered from it exactly."""
    r = report(ETH, EPOCH, observed_at=EPOCH * DAY + 3_599)
    floats = [[units(v) for v in values]]
    governance_update(oracle, owner, publishers, [r], floats)
    read, observed_at, epoch, model_id = oracle.getParameters(ETH, LENDING.layout_id)
    assert list(read) == [felt_to_wad(v, SCALE) for v in values]
    assert [wad_to_fixed(w, SCALE) for w in read] == list(values)
    assert (observed_at, epoch, model_id) == (r.observed_at, EPOCH, TEST_MODEL)
    assert oracle.getParameters(BTC, LENDING.layout_id)[1] == 0


# ---------------------------------------------------------------- applyGovernanceUpdate (issue 13)

def test_applyGovernanceUpdate_skips_guards_stores_observation_time_and_flags_override(oracle, owner, publishers,
                                                                                      keeper, chain):
    first_update(oracle, publishers, keeper)
    at_epoch(chain, EPOCH + 4, 6 * 3_600)
    r = report(BTC, EPOCH + 2, observed_at=(EPOCH + 2) * DAY + 60)  # older than a keeper may submit
    cut = lending(max_ltv=0.50, lt=0.60)  # far beyond the LT step
    tx = governance_update(oracle, owner, publishers, [r], [cut])
    p = oracle.getRiskParameters(BTC)
    assert (p.observedAt, p.epoch, p.liquidationThreshold) == (r.observed_at, EPOCH + 2, to_wad(0.60))
    assert p.observedAt != chain.blocks.head.timestamp
    [event] = tx.events.filter(oracle.RiskParametersUpdated)
    assert event.governanceOverride and event.observedAt == r.observed_at
    assert stored_state(oracle, LENDING, [BTC]).tolist() == [[units(fixed(0.50)), units(fixed(0.60))]]


def test_applyGovernanceUpdate_report_past_governance_age_reverts_ReportTooOld(oracle, owner, publishers, chain):
    r = report(BTC, EPOCH)
    chain.mine(timestamp=r.observed_at + TIMING.max_governance_report_age + 1)
    with ape.reverts(oracle.ReportTooOld, marketId=BTC, epoch=EPOCH, observedAt=r.observed_at):
        governance_update(oracle, owner, publishers, [r], [lending()])


def test_applyGovernanceUpdate_retired_model_reverts_ModelInactive(oracle, owner, publishers):
    oracle.setModelActive(TEST_MODEL, False, sender=owner)
    with ape.reverts(oracle.ModelInactive, modelId=TEST_MODEL):
        governance_update(oracle, owner, publishers, [report(BTC, EPOCH)], [lending()])


def test_applyGovernanceUpdate_unserved_market_reverts_MarketNotServed(oracle, owner, publishers):
    oracle.setModelMarkets(TEST_MODEL, [BTC], False, sender=owner)
    with ape.reverts(oracle.MarketNotServed, modelId=TEST_MODEL, marketId=BTC):
        governance_update(oracle, owner, publishers, [report(BTC, EPOCH)], [lending()])


def test_applyGovernanceUpdate_revoked_publisher_reverts_InsufficientSignatures(oracle, owner, publishers):
    r = report(BTC, EPOCH)
    signatures = signature_tuples(sign(signers(publishers), oracle, [r]))
    oracle.setPublisher(publishers[1].address, False, sender=owner)  # revoked after signing
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        oracle.applyGovernanceUpdate(TEST_MODEL, market_updates([r], [lending()]), signatures, sender=owner)


def test_applyGovernanceUpdate_epoch_not_after_stored_reverts_EpochNotIncreasing(oracle, owner, publishers, keeper):
    first_update(oracle, publishers, keeper)
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=EPOCH, lastEpoch=EPOCH):
        governance_update(oracle, owner, publishers, [report(BTC, EPOCH)], [lending()])


def test_applyGovernanceUpdate_markets_not_increasing_reverts_MarketsNotIncreasing(oracle, owner, publishers):
    reports = [report(ETH, EPOCH), report(BTC, EPOCH)]
    with ape.reverts(oracle.MarketsNotIncreasing, previous=ETH, marketId=BTC):
        governance_update(oracle, owner, publishers, reports, [lending()] * 2)


def test_applyGovernanceUpdate_wrong_value_count_reverts_InstanceCountMismatch(oracle, owner, publishers):
    r = report(BTC, EPOCH)
    updates = [(r.as_tuple(), [fixed(v) for v in lending()[:4]])]
    with ape.reverts(oracle.InstanceCountMismatch, expected=5, actual=4):
        oracle.applyGovernanceUpdate(TEST_MODEL, updates, signature_tuples(sign(signers(publishers), oracle, [r])),
                                     sender=owner)


def test_applyGovernanceUpdate_value_outside_24_bits_reverts_InvalidOutput(oracle, owner, publishers):
    r = report(BTC, EPOCH)
    updates = [(r.as_tuple(), [fixed(v) for v in lending()[:4]] + [1 << 24])]
    with ape.reverts(oracle.InvalidOutput, felt=1 << 24):
        oracle.applyGovernanceUpdate(TEST_MODEL, updates, signature_tuples(sign(signers(publishers), oracle, [r])),
                                     sender=owner)


def test_applyGovernanceUpdate_paused_reverts_EnforcedPause(oracle, owner, guardian, publishers):
    oracle.pause(sender=guardian)
    with ape.reverts(oracle.EnforcedPause):
        governance_update(oracle, owner, publishers, [report(BTC, EPOCH)], [lending()])


def test_applyGovernanceUpdate_unknown_model_reverts_UnknownModel(oracle, owner, publishers):
    with ape.reverts(oracle.UnknownModel, modelId=99):
        governance_update(oracle, owner, publishers, [report(BTC, EPOCH)], [lending()], model=99)

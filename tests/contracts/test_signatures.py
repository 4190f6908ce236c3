"""Signed reports on RiskOracle: k-of-n EIP-712 signatures verified in the update transaction, the
governed publisher set and quorum, and every check of a report (epoch, observation time, age, order).

Publishers sign off chain (oracle/reports.py); nothing of a report exists on chain before the update
that carries it, so a rogue or lost key can neither veto nor delay an update k honest publishers sign.
"""

from __future__ import annotations

import ape
import pytest
from eth_account.messages import encode_typed_data
from eth_utils import keccak

from chain_helpers import (BTC, DAY, ETH, START_EPOCH, TEST_BATCH_MODEL, TEST_MODEL, TIMING, UNLISTED, advance,
                           at_epoch, domain, lending, next_block_at, report, sign, submit, test_update)
from models.spec import LENDING
from oracle.reports import Domain, recover_signer, sign_reports, typed_batch

pytestmark = [pytest.mark.chain, pytest.mark.usefixtures("start_clock")]

EPOCH = START_EPOCH
ZERO_ADDRESS = "0x" + "00" * 20


@pytest.fixture(scope="module")
def newcomer(accounts):
    """An account governance adds as a publisher when rotating keys."""
    return accounts[7]


def by_signer(signatures):
    return sorted(signatures, key=lambda s: int(s.signer, 16))


def stored_epoch(oracle, market: int = BTC) -> int:
    return oracle.getParameters(market, LENDING.layout_id)[2]


def governance_role(oracle):
    return oracle.GOVERNANCE_ROLE()


# ---------------------------------------------------------------- digest and quorum

def test_reportsDigest_is_the_eip712_digest_publishers_sign(oracle, publisher_a):
    reports = [report(BTC, EPOCH), report(ETH, EPOCH)]
    signable = encode_typed_data(full_message=typed_batch(domain(oracle), reports))
    expected = keccak(b"\x19" + signable.version + signable.header + signable.body)
    assert bytes(oracle.reportsDigest([r.as_tuple() for r in reports])) == expected
    [signature] = sign([publisher_a], oracle, reports)
    assert recover_signer(domain(oracle), reports, signature) == publisher_a.address


def test_submitUpdate_k_of_n_signatures_stores_the_update(oracle, publisher_a, publisher_b, keeper):
    r = report(BTC, EPOCH)
    tx = submit(oracle, keeper, [publisher_a, publisher_b], [r], [lending()])
    values, observed_at, epoch, model_id = oracle.getParameters(BTC, LENDING.layout_id)
    assert (observed_at, epoch, model_id) == (r.observed_at, EPOCH, TEST_MODEL)
    [event] = tx.events.filter(oracle.RiskParametersUpdated)
    assert (bytes(event.inputHash), bytes(event.dataHash)) == (r.input_hash, r.data_hash)
    assert not event.governanceOverride


def test_submitUpdate_every_publisher_signing_above_quorum_lands(oracle, publishers, keeper):
    submit(oracle, keeper, publishers, [report(BTC, EPOCH)], [lending()])
    assert stored_epoch(oracle) == EPOCH


def test_submitUpdate_one_signature_below_quorum_reverts_InsufficientSignatures(oracle, publisher_a, keeper):
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [publisher_a], [report(BTC, EPOCH)], [lending()])


def test_submitUpdate_raised_quorum_needs_every_publisher(oracle, owner, publishers, keeper):
    oracle.setQuorum(3, sender=owner)
    with ape.reverts(oracle.InsufficientSignatures, valid=2, quorum=3):
        submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH)], [lending()])
    submit(oracle, keeper, publishers, [report(BTC, EPOCH)], [lending()])
    assert stored_epoch(oracle) == EPOCH


# ---------------------------------------------------------------- rogue, revoked and malformed signatures

def test_submitUpdate_rogue_publisher_cannot_delay_an_update_k_honest_publishers_sign(
        oracle, publisher_a, publisher_b, publisher_c, attacker, keeper, chain):
    """publisher_c goes rogue: it signs a conflicting report for today and reports for the coming days.
    Nothing of it is stored, so nothing is poisoned: its reports alone never reach quorum, its future
    reports are refused, and its conflicting signature riding along with the honest ones neither
    counts nor blocks them, today or on any later epoch."""
    rogue = [publisher_c]
    conflicting = report(BTC, EPOCH, input_hash=7)
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, attacker, rogue, [conflicting], [lending()])
    tomorrow = report(BTC, EPOCH + 1)
    with ape.reverts(oracle.ObservationOutOfRange, marketId=BTC, epoch=EPOCH + 1, observedAt=tomorrow.observed_at):
        submit(oracle, attacker, rogue, [tomorrow], [lending()])

    for epoch in range(EPOCH, EPOCH + 4):
        at_epoch(chain, epoch)
        honest = report(BTC, epoch)
        poisoned = [sign(rogue, oracle, [report(BTC, epoch, input_hash=7)])[0],  # conflicting, same epoch
                    sign(rogue, oracle, [report(BTC, epoch + 1)])[0]]  # pre-signed for the next day
        honest_signatures = sign([publisher_a, publisher_b], oracle, [honest])
        # the rogue's signatures first and last: order matters only among signatures that count
        signatures = [poisoned[0], *by_signer(honest_signatures), poisoned[1]]
        submit(oracle, keeper, [], [honest], [lending()], signatures=signatures)
        assert stored_epoch(oracle) == epoch


def test_submitUpdate_revoked_publisher_signature_does_not_count(oracle, owner, publisher_a, publisher_b,
                                                                  publisher_c, keeper):
    oracle.setPublisher(publisher_c.address, False, sender=owner)
    r = report(BTC, EPOCH)
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [publisher_a, publisher_c], [r], [lending()])
    submit(oracle, keeper, [publisher_a, publisher_b], [r], [lending()])
    assert stored_epoch(oracle) == EPOCH


def test_submitUpdate_duplicate_signature_counts_once(oracle, publisher_a, keeper):
    r = report(BTC, EPOCH)
    [signature] = sign([publisher_a], oracle, [r])
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [], [r], [lending()], signatures=[signature, signature])


def test_submitUpdate_unsorted_signers_count_only_the_increasing_prefix(oracle, publisher_a, publisher_b, keeper):
    r = report(BTC, EPOCH)
    signatures = by_signer(sign([publisher_a, publisher_b], oracle, [r]))[::-1]
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [], [r], [lending()], signatures=signatures)


def test_submitUpdate_non_publisher_signature_does_not_count(oracle, publisher_a, attacker, keeper):
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [publisher_a, attacker], [report(BTC, EPOCH)], [lending()])


@pytest.mark.parametrize("where", ["other oracle", "other chain"])
def test_submitUpdate_signature_for_another_domain_does_not_count(oracle, publisher_a, publisher_b, keeper, chain,
                                                                   where):
    r = report(BTC, EPOCH)
    other = Domain(chain.chain_id, publisher_a.address) if where == "other oracle" \
        else Domain(chain.chain_id + 1, oracle.address)
    signatures = [sign([publisher_a], oracle, [r])[0], sign_reports(publisher_b.private_key, other, [r])]
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [], [r], [lending()], signatures=by_signer(signatures))


def test_submitUpdate_report_changed_after_signing_reverts_InsufficientSignatures(oracle, publisher_a, publisher_b,
                                                                                 keeper):
    signed = report(BTC, EPOCH)
    changed = report(BTC, EPOCH, data=b"other bars")  # same input hash, other raw data
    update = test_update(oracle, [], [changed], [lending()],
                         signatures=by_signer(sign([publisher_a, publisher_b], oracle, [signed])))
    with ape.reverts(oracle.InsufficientSignatures, valid=0, quorum=2):
        oracle.submitUpdate(update, sender=keeper)


def test_submitUpdate_malformed_signature_is_skipped_not_fatal(oracle, publishers, keeper):
    r = report(BTC, EPOCH)
    signatures = by_signer(sign(publishers, oracle, [r]))
    zero = type(signatures[0])(ZERO_ADDRESS, bytes(32), bytes(32))
    submit(oracle, keeper, [], [r], [lending()], signatures=[zero, *signatures[:2]])
    assert stored_epoch(oracle) == EPOCH


# ---------------------------------------------------------------- publisher set and quorum

def test_setPublisher_rotation_by_governance_swaps_keys(oracle, owner, publisher_a, publisher_c, newcomer, keeper):
    added = oracle.setPublisher(newcomer.address, True, sender=owner)
    removed = oracle.setPublisher(publisher_c.address, False, sender=owner)
    assert [(e.publisher, e.active) for e in [*added.events, *removed.events]] == \
        [(newcomer.address, True), (publisher_c.address, False)]
    assert oracle.isPublisher(newcomer.address) and not oracle.isPublisher(publisher_c.address)
    assert oracle.publisherCount() == 3
    r = report(BTC, EPOCH)
    with ape.reverts(oracle.InsufficientSignatures, valid=1, quorum=2):
        submit(oracle, keeper, [publisher_a, publisher_c], [r], [lending()])
    submit(oracle, keeper, [publisher_a, newcomer], [r], [lending()])
    assert stored_epoch(oracle) == EPOCH


@pytest.mark.parametrize("k", [0, 4])
def test_setQuorum_outside_one_to_n_reverts_InvalidQuorum(oracle, owner, k):
    with ape.reverts(oracle.InvalidQuorum, quorum=k, publishers=3):
        oracle.setQuorum(k, sender=owner)


def test_setQuorum_within_n_emits_QuorumChanged(oracle, owner):
    tx = oracle.setQuorum(3, sender=owner)
    assert oracle.quorum() == 3 and tx.events.filter(oracle.QuorumChanged)[0].quorum == 3


def test_setPublisher_removal_below_quorum_reverts_InvalidQuorum(oracle, owner, publisher_b, publisher_c):
    oracle.setPublisher(publisher_c.address, False, sender=owner)  # n = 2 = k
    with ape.reverts(oracle.InvalidQuorum, quorum=2, publishers=1):
        oracle.setPublisher(publisher_b.address, False, sender=owner)
    assert oracle.isPublisher(publisher_b.address) and oracle.publisherCount() == 2


@pytest.mark.parametrize("case", ["add existing", "remove unknown", "zero address"])
def test_setPublisher_no_change_reverts_PublisherUnchanged(oracle, owner, publisher_a, attacker, case):
    account, active = {"add existing": (publisher_a.address, True), "remove unknown": (attacker.address, False),
                       "zero address": (ZERO_ADDRESS, True)}[case]
    with ape.reverts(oracle.PublisherUnchanged, publisher=account):
        oracle.setPublisher(account, active, sender=owner)


@pytest.mark.parametrize("call,args", [("setPublisher", lambda a: (a.address, True)), ("setQuorum", lambda a: (1,))])
def test_publisher_setters_by_non_governance_revert_AccessControlUnauthorizedAccount(oracle, attacker, publisher_a,
                                                                                     call, args):
    for account in (attacker, publisher_a):  # a publisher cannot rotate keys or lower k either
        with ape.reverts(oracle.AccessControlUnauthorizedAccount, account=account.address,
                         neededRole=governance_role(oracle)):
            getattr(oracle, call)(*args(account), sender=account)


@pytest.mark.parametrize("quorum,publishers_of", [(0, lambda p: p), (4, lambda p: p), (2, lambda p: p[:1] * 2)])
def test_constructor_bad_publishers_or_quorum_reverts(project, owner, guardian, publishers, quorum, publishers_of):
    addresses = [p.address for p in publishers_of(publishers)]
    expected = (project.RiskOracle.PublisherUnchanged, {"publisher": addresses[0]}) if len(set(addresses)) < len(
        addresses) else (project.RiskOracle.InvalidQuorum, {"quorum": quorum, "publishers": len(addresses)})
    with ape.reverts(expected[0], **expected[1]):
        project.RiskOracle.deploy(owner.address, guardian.address, addresses, quorum, TIMING.as_tuple(), sender=owner)


# ---------------------------------------------------------------- epochs, markets and observation time

def test_submitUpdate_replayed_epoch_reverts_EpochNotIncreasing(oracle, publishers, keeper, chain):
    update = test_update(oracle, publishers[:2], [report(BTC, EPOCH)], [lending()])
    oracle.submitUpdate(update, sender=keeper)
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=EPOCH, lastEpoch=EPOCH):
        oracle.submitUpdate(update, sender=keeper)
    at_epoch(chain, EPOCH + 2)
    submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH + 2)], [lending()])
    with ape.reverts(oracle.EpochNotIncreasing, marketId=BTC, epoch=EPOCH + 1, lastEpoch=EPOCH + 2):
        submit(oracle, keeper, publishers[:2], [report(BTC, EPOCH + 1)], [lending()])


@pytest.mark.parametrize("markets", [(ETH, BTC), (BTC, BTC)])
def test_submitUpdate_markets_not_increasing_reverts_MarketsNotIncreasing(oracle, publishers, keeper, markets):
    reports = [report(m, EPOCH) for m in markets]
    with ape.reverts(oracle.MarketsNotIncreasing, previous=markets[0], marketId=markets[1]):
        submit(oracle, keeper, publishers[:2], reports, [lending()] * 2, model=TEST_BATCH_MODEL)


def test_submitUpdate_unlisted_market_reverts_MarketNotServed(oracle, publishers, keeper):
    with ape.reverts(oracle.MarketNotServed, modelId=TEST_MODEL, marketId=UNLISTED):
        submit(oracle, keeper, publishers[:2], [report(UNLISTED, EPOCH)], [lending()])


@pytest.mark.parametrize("observed_at", [EPOCH * DAY - 1, EPOCH * DAY + 3_600 + 600, (EPOCH + 1) * DAY])
def test_submitUpdate_observation_off_its_day_or_in_future_reverts_ObservationOutOfRange(oracle, publishers, keeper,
                                                                                         observed_at):
    r = report(BTC, EPOCH, observed_at=observed_at)
    with ape.reverts(oracle.ObservationOutOfRange, marketId=BTC, epoch=EPOCH, observedAt=observed_at):
        submit(oracle, keeper, publishers[:2], [r], [lending()])


def test_submitUpdate_observation_at_max_age_lands_and_one_second_older_reverts_ReportTooOld(oracle, publishers,
                                                                                           keeper, chain):
    r = report(BTC, EPOCH)
    at_epoch(chain, EPOCH + 1)
    update = test_update(oracle, publishers[:2], [r], [lending()])
    next_block_at(chain, r.observed_at + TIMING.max_report_age + 1)
    with ape.reverts(oracle.ReportTooOld, marketId=BTC, epoch=EPOCH, observedAt=r.observed_at):
        oracle.submitUpdate(update, sender=keeper)
    at_epoch(chain, EPOCH + 1)
    next_block_at(chain, r.observed_at + TIMING.max_report_age)
    oracle.submitUpdate(update, sender=keeper)
    assert stored_epoch(oracle) == EPOCH


def test_isStale_counts_from_observation_not_submission(oracle, publishers, keeper, chain):
    observed = EPOCH * DAY + 600
    r = report(BTC, EPOCH, observed_at=observed)
    at_epoch(chain, EPOCH, 20 * 3_600)  # submitted 20 hours after the data was observed
    submit(oracle, keeper, publishers[:2], [r], [lending()])
    params = oracle.getRiskParameters(BTC)
    assert (params.observedAt, params.epoch) == (observed, EPOCH)
    set_to = observed + TIMING.staleness_period
    advance(chain, set_to - chain.blocks.head.timestamp)
    assert not oracle.isStale(BTC, LENDING.layout_id)
    assert oracle.getFreshRiskParameters(BTC).observedAt == observed
    advance(chain, 1)
    assert oracle.isStale(BTC, LENDING.layout_id)
    with ape.reverts(oracle.StaleRiskParameters, marketId=BTC, layoutId=LENDING.layout_id, observedAt=observed):
        oracle.getFreshRiskParameters(BTC)

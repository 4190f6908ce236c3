"""DataCommitmentRegistry: k-of-n quorum, conflicts, roles."""

from __future__ import annotations

import ape
import pytest

from chain_helpers import BTC, ETH
from models.spec import FIELD_MODULUS

pytestmark = pytest.mark.chain

EPOCH = 20_000
HASH = (12345).to_bytes(32, "big")
OTHER = (67890).to_bytes(32, "big")


def now(chain) -> int:
    return chain.blocks.head.timestamp


def test_commit_reaches_quorum_and_finalizes(registry, publisher_a, publisher_b, chain):
    observed = now(chain)
    registry.commit(BTC, EPOCH, HASH, observed, sender=publisher_a)
    assert registry.finalCommitment(BTC, EPOCH)[0] is False
    tx = registry.commit(BTC, EPOCH, HASH, observed, sender=publisher_b)
    final, committed, observed_at = registry.finalCommitment(BTC, EPOCH)
    assert (final, bytes(committed), observed_at) == (True, HASH, observed)
    [event] = tx.events.filter(registry.CommitmentFinalized)
    assert (event.marketId, event.epoch, bytes(event.inputHash)) == (BTC, EPOCH, HASH)
    assert registry.getCommitment(BTC, EPOCH).approvals == 2


def test_commit_markets_and_epochs_are_independent(registry, publisher_a, publisher_b, chain):
    observed = now(chain)
    for publisher in (publisher_a, publisher_b):
        registry.commit(BTC, EPOCH, HASH, observed, sender=publisher)
    registry.commit(ETH, EPOCH, HASH, observed, sender=publisher_a)
    registry.commit(BTC, EPOCH + 1, HASH, observed, sender=publisher_a)
    assert registry.finalCommitment(BTC, EPOCH)[0]
    assert not registry.finalCommitment(ETH, EPOCH)[0]
    assert not registry.finalCommitment(BTC, EPOCH + 1)[0]


def test_commit_conflicting_hash_blocks_finality(registry, publishers, chain):
    a, b, c = publishers
    observed = now(chain)
    registry.commit(BTC, EPOCH, HASH, observed, sender=a)
    tx = registry.commit(BTC, EPOCH, OTHER, observed, sender=b)
    [event] = tx.events.filter(registry.CommitmentConflict)
    assert (bytes(event.committedHash), bytes(event.conflictingHash), event.publisher) == (HASH, OTHER, b.address)
    registry.commit(BTC, EPOCH, HASH, observed, sender=c)  # quorum of agreeing posts, still not final
    commitment = registry.getCommitment(BTC, EPOCH)
    assert commitment.conflicted and commitment.approvals == 2
    assert registry.finalCommitment(BTC, EPOCH)[0] is False


def test_commit_conflict_after_finality_revokes_it(registry, publishers, chain):
    a, b, c = publishers
    observed = now(chain)
    registry.commit(BTC, EPOCH, HASH, observed, sender=a)
    registry.commit(BTC, EPOCH, HASH, observed, sender=b)
    assert registry.finalCommitment(BTC, EPOCH)[0]
    registry.commit(BTC, EPOCH, OTHER, observed, sender=c)
    assert registry.finalCommitment(BTC, EPOCH)[0] is False


def test_commit_different_observation_time_is_a_conflict(registry, publisher_a, publisher_b, chain):
    observed = now(chain)
    registry.commit(BTC, EPOCH, HASH, observed, sender=publisher_a)
    registry.commit(BTC, EPOCH, HASH, observed - 1, sender=publisher_b)
    assert registry.getCommitment(BTC, EPOCH).conflicted


def test_commit_twice_reverts_already_committed(registry, publisher_a, chain):
    registry.commit(BTC, EPOCH, HASH, now(chain), sender=publisher_a)
    with ape.reverts(registry.AlreadyCommitted, marketId=BTC, epoch=EPOCH, publisher=publisher_a.address):
        registry.commit(BTC, EPOCH, HASH, now(chain), sender=publisher_a)


@pytest.mark.parametrize("bad", [bytes(32), FIELD_MODULUS.to_bytes(32, "big"), b"\xff" * 32])
def test_commit_non_field_hash_reverts_invalid_input_hash(registry, publisher_a, chain, bad):
    with ape.reverts(registry.InvalidInputHash):
        registry.commit(BTC, EPOCH, bad, now(chain), sender=publisher_a)


def test_commit_future_observation_reverts(registry, publisher_a, chain):
    with ape.reverts(registry.ObservationInFuture):
        registry.commit(BTC, EPOCH, HASH, now(chain) + 3_600, sender=publisher_a)


def test_commit_by_non_publisher_reverts_unauthorized(registry, attacker, chain):
    with ape.reverts(registry.AccessControlUnauthorizedAccount, account=attacker.address):
        registry.commit(BTC, EPOCH, HASH, now(chain), sender=attacker)


def test_set_quorum_by_admin_changes_k(registry, owner, publishers, chain):
    tx = registry.setQuorum(3, sender=owner)
    assert registry.quorum() == 3
    assert tx.events.filter(registry.QuorumChanged)[0].newQuorum == 3
    observed = now(chain)
    for publisher in publishers[:2]:
        registry.commit(BTC, EPOCH, HASH, observed, sender=publisher)
    assert not registry.finalCommitment(BTC, EPOCH)[0]
    registry.commit(BTC, EPOCH, HASH, observed, sender=publishers[2])
    assert registry.finalCommitment(BTC, EPOCH)[0]


def test_set_quorum_lowered_finalizes_on_next_post(registry, owner, publishers, chain):
    registry.setQuorum(3, sender=owner)
    observed = now(chain)
    for publisher in publishers[:2]:
        registry.commit(BTC, EPOCH, HASH, observed, sender=publisher)
    registry.setQuorum(1, sender=owner)
    registry.commit(BTC, EPOCH, HASH, observed, sender=publishers[2])
    assert registry.finalCommitment(BTC, EPOCH)[0]


@pytest.mark.parametrize("k", [0, 4])
def test_set_quorum_outside_one_to_n_reverts_invalid_quorum(registry, owner, k):
    with ape.reverts(registry.InvalidQuorum, quorum=k, publishers=3):
        registry.setQuorum(k, sender=owner)


def test_set_quorum_by_non_admin_reverts_unauthorized(registry, attacker):
    with ape.reverts(registry.AccessControlUnauthorizedAccount):
        registry.setQuorum(1, sender=attacker)


def test_revoke_publisher_below_quorum_reverts_invalid_quorum(registry, owner, publishers):
    role = registry.PUBLISHER_ROLE()
    registry.revokeRole(role, publishers[2].address, sender=owner)  # 2 publishers left, k = 2
    assert registry.publisherCount() == 2
    with ape.reverts(registry.InvalidQuorum):
        registry.revokeRole(role, publishers[1].address, sender=owner)


def test_grant_publisher_counts_n(registry, owner, attacker):
    registry.grantRole(registry.PUBLISHER_ROLE(), attacker.address, sender=owner)
    registry.grantRole(registry.PUBLISHER_ROLE(), attacker.address, sender=owner)  # idempotent
    assert registry.publisherCount() == 4

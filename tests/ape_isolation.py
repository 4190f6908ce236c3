"""Ape's contract caches follow the chain when test isolation reverts it.

Ape's isolation reverts the chain (an anvil snapshot) after every test and module, and its transaction
history with it, but not its caches of contract types, proxies and creations by address. A contract
deployed in a reverted test stays cached at its address; the next deployment from the same account and
nonce gets that address, and when that deployment reverts, Ape decodes the revert with the stale
contract's ABI: `ape.reverts(LendingMarket.InvalidFallback)` then fails with "Invalid pointer in tuple"
from TestToken's ABI, depending on which modules ran first. After each restore, the entries cached
since the snapshot whose address holds no code any more are dropped.

Snapshots are recorded per chain (its RPC address): a module on a private anvil (untraced_chain)
numbers its snapshots from the start again, and an entry recorded under the same number for the
session chain would keep a reverted contract cached there. That alone did not hold in CI's full
reverse-order run (a stale entry survived at the address of the owner's next deployment, by a path
not traced), so each restore also drops whatever is cached at the addresses the test accounts' next
deployments will get: Ape decodes a reverted deployment with the contract type cached there, and no
contract can live at an address whose creating nonce is still unused.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator

import pytest
import rlp
from ape.managers.chain import ChainManager
from eth_utils import keccak, to_bytes, to_checksum_address


def _caches(chain: ChainManager) -> list[Any]:
    contracts = chain.contracts
    return [contracts.contract_types, contracts.proxy_infos, contracts.contract_creations, contracts.blueprints]


#: deployments a test makes from one account, at most, whose addresses are swept after a restore
DEPLOYMENTS_AHEAD = 32


def create_address(sender: str, nonce: int) -> str:
    """The address of the contract `sender` creates with `nonce` (CREATE: keccak(rlp([sender, nonce])))."""
    return to_checksum_address(keccak(rlp.encode([to_bytes(hexstr=sender), nonce]))[12:])


def _next_deployments(chain: ChainManager) -> set[str]:
    from ape import accounts

    web3 = chain.provider.web3
    return {create_address(account.address, nonce)
            for account in accounts.test_accounts
            for start in [web3.eth.get_transaction_count(account.address)]
            for nonce in range(start, start + DEPLOYMENTS_AHEAD)}


def follow_reverts(patch: pytest.MonkeyPatch) -> None:
    """Wrap ChainManager.snapshot and .restore (for as long as `patch` lasts)."""
    cached_at: dict[tuple[str, Any], set[str]] = {}
    snapshot, restore = ChainManager.snapshot, ChainManager.restore

    def snapshot_recording(chain: ChainManager):
        snapshot_id = snapshot(chain)
        cached_at[(chain.provider.http_uri, snapshot_id)] = {address for cache in _caches(chain)
                                                             for address in cache.memory}
        return snapshot_id

    def restore_forgetting(chain: ChainManager, snapshot_id=None):
        restore(chain, snapshot_id)
        known = cached_at.get((chain.provider.http_uri, snapshot_id)) if snapshot_id is not None else None
        undeployed = _next_deployments(chain)
        for cache in _caches(chain):
            for address in [a for a in cache.memory if known is None or a not in known]:
                if not chain.provider.get_code(address):
                    del cache.memory[address]
            for address in undeployed & cache.memory.keys():
                del cache.memory[address]

    patch.setattr(ChainManager, "snapshot", snapshot_recording)
    patch.setattr(ChainManager, "restore", restore_forgetting)


@contextmanager
def separate_caches(chain: ChainManager) -> Iterator[None]:
    """Empty caches for the duration, then the previous ones back: Ape keys its contract caches, its
    cached chain id and its cached code by network name, not by chain, so a second local chain (a
    private anvil) would otherwise report the session chain's id and decode its contracts with the
    ABIs of the session chain's contracts at the same addresses (same deployer, same nonce)."""
    caches = _caches(chain)
    saved = [cache.memory for cache in caches]
    chain_ids, code = dict(chain._chain_id_cache), dict(ChainManager._code)
    for cache in caches:
        cache.memory = {}
    chain._chain_id_cache.clear()
    ChainManager._code.clear()
    try:
        yield
    finally:
        for cache, memory in zip(caches, saved):
            cache.memory = memory
        chain._chain_id_cache.clear()
        chain._chain_id_cache.update(chain_ids)
        ChainManager._code.clear()
        ChainManager._code.update(code)

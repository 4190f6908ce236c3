"""Wiring: the pipeline, feeds, provers, publishers and chain gateway a process builds from its settings.

Keys: the update signer comes from `ZKRISK_SIGNER_KEY` or an encrypted keystore
(`ZKRISK_KEYSTORE_PATH` + `ZKRISK_KEYSTORE_PASSWORD`); in-process publisher keys from
`ZKRISK_PUBLISHER_KEYS`, remote publishers from `ZKRISK_PUBLISHER_URLS`. In embedded mode, with none
configured, anvil's well-known development accounts are used (derived from its public test mnemonic;
they hold test ether only). Keys are never logged or returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.chain.client import ChainGateway
from oracle.errors import ConfigurationError
from oracle.feed import MarketFeed, ReplayClock, ReplayFeed
from oracle.pipeline import Pipeline
from oracle.publisher import PublisherSource, RemotePublisher, local_publishers
from oracle.runtime import Runtimes
from oracle.settings import Settings

#: anvil's default mnemonic (public; development chains only)
ANVIL_MNEMONIC = "test test test test test test test test test test test junk"
#: roles of anvil's development accounts in the embedded deployment
DEV_DEPLOYER, DEV_PUBLISHERS, DEV_SIGNER = 0, (1, 2, 3), 4
DEV_QUORUM = 2


def dev_account(index: int) -> LocalAccount:
    Account.enable_unaudited_hdwallet_features()
    return Account.from_mnemonic(ANVIL_MNEMONIC, account_path=f"m/44'/60'/0'/0/{index}")


def signer(settings: Settings) -> LocalAccount:
    if settings.signer_key is not None:
        return Account.from_key(settings.signer_key.get_secret_value())
    if settings.keystore_path is not None:
        if settings.keystore_password is None:
            raise ConfigurationError("ZKRISK_KEYSTORE_PASSWORD is required with ZKRISK_KEYSTORE_PATH")
        keystore = json.loads(Path(settings.keystore_path).read_text())
        return Account.from_key(Account.decrypt(keystore, settings.keystore_password.get_secret_value()))
    if settings.embedded_worker or settings.start_anvil:
        return dev_account(DEV_SIGNER)
    raise ConfigurationError("no signer: set ZKRISK_SIGNER_KEY or ZKRISK_KEYSTORE_PATH")


def publisher_accounts(settings: Settings) -> list[LocalAccount]:
    """The publishers this process runs itself (embedded default: development publishers up to the quorum)."""
    if settings.publisher_keys:
        return [Account.from_key(k.get_secret_value()) for k in settings.publisher_keys]
    if settings.publisher_urls:
        return []
    if settings.embedded_worker or settings.start_anvil:
        return [dev_account(i) for i in DEV_PUBLISHERS[:DEV_QUORUM]]
    raise ConfigurationError("no publishers: set ZKRISK_PUBLISHER_URLS (or ZKRISK_PUBLISHER_KEYS to run them here)")


def load_manifest(settings: Settings) -> dict[str, Any]:
    path = Path(settings.deployment_path)
    if not path.exists():
        raise ConfigurationError(f"no deployment manifest at {path}: run `zkrisk serve` (embedded) or "
                                 "deploy and write it first")
    return json.loads(path.read_text())


def gateway(settings: Settings) -> ChainGateway:
    try:
        account = signer(settings)
    except ConfigurationError:
        account = None  # reads need no key; submitting without one fails with the reason
    return ChainGateway(settings.rpc_url, load_manifest(settings), account, settings.confirmations,
                        settings.confirmation_timeout)


def runtimes(settings: Settings) -> Runtimes:
    return Runtimes.from_config(settings.models)


def clock(settings: Settings) -> ReplayClock | None:
    """The replay clock of `--replay-from` (None: live time)."""
    return None if settings.replay_from is None else ReplayClock(settings.replay_from, settings.replay_speed)


def feeds(provers: Runtimes, replay: ReplayClock | None) -> dict[str, MarketFeed]:
    """A feed per model version over its bundled data (each caller gets its own copy)."""
    return {key: ReplayFeed(runtime.version, clock=replay) for key, runtime in provers.items()}


def publisher_sources(settings: Settings, provers: Runtimes, replay: ReplayClock | None) -> list[PublisherSource]:
    local = local_publishers(publisher_accounts(settings), lambda: feeds(provers, replay))
    return [*local, *(RemotePublisher(url) for url in settings.publisher_urls)]


def build_pipeline(settings: Settings) -> Pipeline:
    provers, replay = runtimes(settings), clock(settings)
    return Pipeline(settings.database_url, provers, feeds(provers, replay),
                    lambda: publisher_sources(settings, provers, replay), lambda: gateway(settings),
                    settings.stage_lease_seconds,
                    drift_rules=settings.drift_rules() if settings.retrain_on_drift else None,
                    retrainer=lambda retrain_id: retrain(settings, retrain_id),
                    retrain_cooldown_epochs=settings.retrain_cooldown_epochs)


def retrain(settings: Settings, retrain_id: str) -> str:
    """Run a retrain (oracle/retrain.py) with these settings; its state after."""
    from oracle.retrain import run_retrain

    return run_retrain(settings, retrain_id)

"""Wiring: the pipeline, feed, prover and chain gateway a process builds from its settings.

Keys: the update signer comes from `ZKRISK_SIGNER_KEY` or an encrypted keystore
(`ZKRISK_KEYSTORE_PATH` + `ZKRISK_KEYSTORE_PASSWORD`); publisher keys from `ZKRISK_PUBLISHER_KEYS`.
In embedded mode, with none configured, anvil's well-known development accounts are used (derived
from its public test mnemonic; they hold test ether only). Keys are never logged or returned.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount

from oracle.chain.client import ChainGateway
from oracle.errors import ConfigurationError
from oracle.feed import ReplayFeed
from oracle.pipeline import Pipeline
from oracle.runtime import ProverRuntime
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


def publishers(settings: Settings) -> list[LocalAccount]:
    if settings.publisher_keys:
        return [Account.from_key(k.get_secret_value()) for k in settings.publisher_keys]
    if settings.embedded_worker or settings.start_anvil:
        return [dev_account(i) for i in DEV_PUBLISHERS[:DEV_QUORUM]]
    raise ConfigurationError("no publisher keys: set ZKRISK_PUBLISHER_KEYS")


def load_manifest(settings: Settings) -> dict[str, Any]:
    path = Path(settings.deployment_path)
    if not path.exists():
        raise ConfigurationError(f"no deployment manifest at {path}: run `zkrisk serve` (embedded) or "
                                 "deploy and write it first")
    return json.loads(path.read_text())


def gateway(settings: Settings) -> ChainGateway:
    return ChainGateway(settings.rpc_url, load_manifest(settings), signer(settings), publishers(settings),
                        settings.confirmations, settings.confirmation_timeout)


def runtime(settings: Settings) -> ProverRuntime:
    return ProverRuntime(settings.model_id, settings.model_version, settings.batch_sizes)


def build_pipeline(settings: Settings) -> Pipeline:
    prover = runtime(settings)
    return Pipeline(settings.database_url, ReplayFeed(prover.version), prover, lambda: gateway(settings),
                    settings.stage_lease_seconds)

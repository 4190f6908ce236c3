"""The `zkrisk` command line. Each area registers its commands here; the work lives in its package."""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path
from typing import Annotated, Optional

import typer

from models.cli import backtest, train
from prover.toolchain import use_project_solcx

# Before any command imports ape: its Solidity plugin compiles with this checkout's solc-js shim.
use_project_solcx()

app = typer.Typer(no_args_is_help=True, pretty_exceptions_show_locals=False)
app.command()(train)
app.command()(backtest)


@app.callback()
def main() -> None:
    """zkrisk: proved risk parameters for DeFi, from market data to chain."""


Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="show library logs (Ape, uvicorn, Celery) on the "
                                                               "console too; they always go to .zkrisk/logs/")]


@app.command()
def demo(market: str = typer.Option("BTC", help="market to prove and publish"),
         rpc: str = typer.Option("http://127.0.0.1:8545", help="anvil to use if one is running there"),
         verbose: Verbose = False) -> None:
    """Prove one risk update on bundled real data and publish it to a local anvil chain."""
    from oracle.demo import run_demo
    from oracle.lifecycle import terminate_as_exit
    from oracle.logs import route_library_logs

    log_file = route_library_logs("demo", verbose)
    with terminate_as_exit():  # the anvil the demo starts stops on SIGTERM too
        run_demo(market=market, rpc=rpc)
    typer.echo(f"library logs: {log_file}")


@app.command()
def audit(bundle: Optional[Path] = typer.Argument(None, help="proof bundle (zkrisk-bundle/2 JSON)", exists=True,
                                                  dir_okay=False),
          tx: Optional[str] = typer.Option(None, help="audit this submitUpdate transaction instead of a bundle: "
                                                      "the bundle is rebuilt from the chain and this repository"),
          rpc: Optional[str] = typer.Option(None, help="JSON-RPC of the chain the update was published on"),
          srs: Optional[Path] = typer.Option(None, help="SRS file, when the bundle refers to a ceremony SRS by hash"),
          report: Optional[Path] = typer.Option(None, help="also write an HTML report with plots here")) -> None:
    """Re-check a published update from its proof bundle (or its transaction): exit 0 only when every
    check passes."""
    from rich.console import Console

    from oracle.audit import audit_bundle, print_report
    from oracle.bundle import Bundle

    if (bundle is None) == (tx is None):
        raise typer.BadParameter("give either a BUNDLE file or --tx HASH (with --rpc)")
    if tx is not None and rpc is None:
        raise typer.BadParameter("--tx needs --rpc")
    from oracle.errors import OracleError

    try:
        if tx is not None:
            from oracle.audit.from_chain import bundle_from_transaction

            loaded = bundle_from_transaction(rpc, tx)
        else:
            loaded = Bundle.load(bundle)
    except OracleError as error:  # an unreadable bundle or an unusable transaction: nothing to check
        typer.echo(f"cannot audit: {error}", err=True)
        raise typer.Exit(2) from None
    result = audit_bundle(loaded, rpc=rpc, srs=srs, report=report)
    console = Console()
    print_report(result, console)
    if report is not None:
        console.print(f"report: {report}")
    raise typer.Exit(0 if result.passed else 1)


@app.command()
def serve(host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8000),
          replay_from: Optional[datetime] = typer.Option(
              None, formats=["%Y-%m-%d"], help="replay the bundled history from this UTC date as if live: "
                                               "heartbeat, deviation triggers, guardrails and the dashboard "
                                               "history follow the replayed clock"),
          replay_speed: Optional[float] = typer.Option(None, help="replayed seconds per real second "
                                                                  "(default 86400: a day a second)"),
          log_level: str = typer.Option("info"), verbose: Verbose = False) -> None:
    """Run the oracle service. Embedded by default: SQLite, an in-process worker, anvil started and
    the contracts deployed if needed, bundled data replayed, both models proved, the configured
    publishers signing in-process. Settings: ZKRISK_* environment variables. SIGINT or SIGTERM stops
    everything it started (anvil, the embedded worker and beat)."""
    from contextlib import ExitStack

    import uvicorn

    from oracle.api import create_app
    from oracle.chain.local import local_chain
    from oracle.lifecycle import terminate_as_exit
    from oracle.logs import configure_logging, route_library_logs
    from oracle.services import runtimes
    from oracle.settings import get_settings

    settings = get_settings()
    overrides = {"replay_from": replay_from.date() if replay_from else None, "replay_speed": replay_speed}
    settings = settings.model_copy(update={k: v for k, v in overrides.items() if v is not None})
    log_file = route_library_logs("serve", verbose)
    configure_logging(log_level.upper())
    with terminate_as_exit(), ExitStack() as started:
        if settings.start_anvil:
            typer.echo(f"chain: {settings.rpc_url} (building circuits and deploying if needed)")
            started.enter_context(local_chain(settings.rpc_url, runtimes(settings), settings.deployment_path))
        if settings.replay_from is not None:
            typer.echo(f"replaying from {settings.replay_from} at {settings.replay_speed:g} replayed s per s")
        typer.echo(f"serving http://{host}:{port} (API docs /docs, dashboard /dashboard); library logs: {log_file}")
        # log_config=None: uvicorn's loggers propagate to the handlers route_library_logs installed
        uvicorn.run(create_app(settings), host=host, port=port, log_level=log_level, log_config=None)


@app.command()
def replay(start: datetime = typer.Option(..., "--from", formats=["%Y-%m-%d"], help="first epoch (UTC date)"),
           end: datetime = typer.Option(..., "--to", formats=["%Y-%m-%d"], help="last epoch (UTC date)"),
           markets: Optional[list[str]] = typer.Option(None, "--market", help="markets (default: configured)"),
           models: Optional[list[str]] = typer.Option(None, "--model", help="model_id@version (default: all)"),
           verbose: Verbose = False) -> None:
    """Replay daily epochs of the bundled history through the whole pipeline, one epoch after the other
    (each proof steps from the state the previous day stored), and print each day's published values.
    Embedded by default (anvil started and deployed if needed)."""
    from contextlib import ExitStack

    from oracle.chain.local import local_chain
    from oracle.db import migrate
    from oracle.lifecycle import terminate_as_exit
    from oracle.logs import route_library_logs
    from oracle.replay import replay_epochs
    from oracle.services import build_pipeline, runtimes
    from oracle.settings import get_settings

    settings = get_settings()
    first, last = (int(d.replace(tzinfo=timezone.utc).timestamp()) // 86_400 for d in (start, end))
    if last < first:
        raise typer.BadParameter("--to is before --from")
    log_file = route_library_logs("replay", verbose)
    migrate(settings.database_url)

    def show(outcome) -> None:
        values = ", ".join(f"{k} {v:.4f}" for k, v in (outcome.values or {}).items())
        typer.echo(f"epoch {outcome.epoch} {outcome.market} {outcome.model}: {outcome.state.value} "
                   f"{values or outcome.error or ''}")

    with terminate_as_exit(), ExitStack() as started:
        if settings.start_anvil:
            started.enter_context(local_chain(settings.rpc_url, runtimes(settings), settings.deployment_path))
        outcomes = replay_epochs(build_pipeline(settings), markets or settings.markets, range(first, last + 1),
                                 models, show)
    failed = [o for o in outcomes if o.state.value != "confirmed"]
    typer.echo(f"{len(outcomes) - len(failed)} of {len(outcomes)} updates confirmed; library logs: {log_file}")
    raise typer.Exit(1 if failed else 0)


@app.command()
def publish(deployment: Path = typer.Option(Path(".zkrisk/deployment.json"), envvar="ZKRISK_DEPLOYMENT_PATH",
                                            help="deployment manifest: the oracle (chain id, address) to sign for"),
            key: str = typer.Option(..., envvar="ZKRISK_PUBLISHER_KEY", help="this publisher's private key "
                                                                            "(better: the env var)", show_default=False),
            models: Optional[list[str]] = typer.Option(None, "--model", help="model_id@version to sign for "
                                                                            "(default: every model of the manifest)"),
            host: str = typer.Option("127.0.0.1"), port: int = typer.Option(8100),
            post_to: Optional[str] = typer.Option(None, help="instead of serving: post signed reports to this "
                                                            "service URL (POST /reports) and exit"),
            api_key: Optional[str] = typer.Option(None, envvar="ZKRISK_API_KEY", help="the service's API key"),
            markets: Optional[list[str]] = typer.Option(None, "--market", help="with --post-to: markets to sign"),
            epoch: Optional[int] = typer.Option(None, help="with --post-to: epoch (default: latest data)"),
            batch_size: int = typer.Option(1, help="with --post-to: markets per signed batch (the proof's K)")) -> None:
    """Run a publisher: sign EIP-712 reports of market data from this publisher's own copy, recomputing
    the input vector and hashes independently. Serves GET /reports?model=&input_scale=&markets=&epoch=
    (the service asks it), or posts signed batches to the service. Publishing costs no transaction."""
    import httpx
    import uvicorn
    from eth_account import Account

    from models.spec import MARKETS
    from oracle.feed import ReplayFeed
    from oracle.publisher import LocalPublisher, ReportRequest, publisher_app
    from oracle.reports import Domain
    from oracle.runtime import ProverRuntime

    manifest = json.loads(deployment.read_text())
    domain = Domain(int(manifest["chain_id"]), manifest["contracts"]["RiskOracle"])
    registered = {m.get("model_key") or m["label"].split(" ")[0]: m for m in manifest["models"]}
    keys = models or list(registered)
    versions = {k: ProverRuntime(k).version for k in keys}
    publisher = LocalPublisher(Account.from_key(key), {k: ReplayFeed(v) for k, v in versions.items()})
    typer.echo(f"publisher {publisher.address} for oracle {domain.oracle} on chain {domain.chain_id}: "
               + ", ".join(keys))
    if post_to is None:
        uvicorn.run(publisher_app(publisher, domain, versions), host=host, port=port)
        return
    if api_key is None:
        raise typer.BadParameter("--post-to needs --api-key (or ZKRISK_API_KEY)")
    symbols = sorted((m.upper() for m in markets or MARKETS), key=lambda m: MARKETS[m])
    for model in keys:
        feed = publisher.feeds[model]
        for start in range(0, len(symbols), batch_size):
            group = symbols[start:start + batch_size]
            request = ReportRequest(model, int(registered[model]["input_scale"]),
                                    tuple((m, epoch if epoch is not None else feed.latest_epoch(m)) for m in group))
            reply = httpx.post(f"{post_to.rstrip('/')}/reports", json=publisher.sign(domain, request).to_dict(),
                               headers={"X-API-Key": api_key}, timeout=30)
            typer.echo(f"{model} {','.join(group)}: {reply.status_code} {reply.text[:200]}")
            if reply.status_code >= 400:
                raise typer.Exit(1)


@app.command()
def worker(queues: str = typer.Option("data,prove,submit", help="comma-separated queues to consume"),
           concurrency: int = typer.Option(1, help="processes (proving uses all cores: keep 1 per machine)"),
           beat: bool = typer.Option(False, help="also run the beat scheduler (exactly one per deployment)"),
           log_level: str = typer.Option("info")) -> None:
    """Run a Celery worker against the configured broker (production: Redis), e.g. `--queues prove`."""
    from oracle.db import migrate
    from oracle.logs import configure_logging
    from oracle.settings import STATE_DIR, get_settings
    from oracle.worker import celery

    configure_logging(log_level.upper())
    migrate(get_settings().database_url)
    argv = ["worker", "--queues", queues, "--concurrency", str(concurrency), "--loglevel", log_level,
            "--without-gossip", "--without-mingle"]
    if beat:
        STATE_DIR.mkdir(parents=True, exist_ok=True)
    celery.worker_main(argv + (["--beat"] if beat else []))


@app.command()
def update(markets: list[str] = typer.Argument(..., help="market symbols, proved together"),
           epoch: int = typer.Option(None, help="UTC day number; default: latest data"),
           url: str = typer.Option("http://127.0.0.1:8000"),
           api_key: str = typer.Option(..., envvar="ZKRISK_API_KEY", help="API key (or ZKRISK_API_KEY)"),
           wait: bool = typer.Option(True, help="follow the jobs until they finish")) -> None:
    """Request an update through the API and follow its jobs."""
    import time

    import httpx

    reply = httpx.post(f"{url}/updates", json={"markets": markets, "epoch": epoch},
                       headers={"X-API-Key": api_key}, timeout=30)
    if reply.status_code >= 400:
        typer.echo(f"{reply.status_code}: {reply.text}", err=True)
        raise typer.Exit(1)
    jobs = [j["id"] for j in reply.json()["jobs"]]
    while True:
        states = [httpx.get(f"{url}/updates/{j}", timeout=30).json() for j in jobs]
        typer.echo("  ".join(f"{s['market']}@{s['epoch']}: {s['state']} ({s['progress']:.0%})" for s in states))
        if not wait or all(s["state"] in ("confirmed", "failed") for s in states):
            break
        time.sleep(2)
    if any(s["state"] == "failed" for s in states):
        raise typer.Exit(1)


@app.command()
def status(limit: int = typer.Option(10, help="recent jobs to list")) -> None:
    """Markets, recent jobs and their states, read from the service database."""
    from rich.console import Console
    from rich.table import Table

    from oracle.status import market_rows, recent_jobs
    from oracle.settings import get_settings

    settings = get_settings()
    console = Console()
    markets = Table(title="markets")
    for column in ("model", "market", "last epoch", "values", "age", "in flight"):
        markets.add_column(column)
    for row in market_rows(settings):
        markets.add_row(*row)
    console.print(markets)
    jobs = Table(title=f"last {limit} jobs")
    for column in ("job", "model", "market", "epoch", "state", "progress", "detail"):
        jobs.add_column(column)
    for row in recent_jobs(settings, limit):
        jobs.add_row(*row)
    console.print(jobs)


apikey = typer.Typer(help="API keys for write endpoints (stored hashed; shown once).")
app.add_typer(apikey, name="apikey")


@apikey.command("create")
def apikey_create(name: str) -> None:
    """Create a key and print it (it cannot be shown again)."""
    from oracle.auth import create_key
    from oracle.db import migrate, session_scope
    from oracle.settings import get_settings

    url = get_settings().database_url
    migrate(url)
    with session_scope(url) as session:
        typer.echo(create_key(session, name))


@apikey.command("revoke")
def apikey_revoke(name: str) -> None:
    from oracle.auth import revoke_key
    from oracle.db import session_scope
    from oracle.settings import get_settings

    with session_scope(get_settings().database_url) as session:
        revoke_key(session, name)
# Options shared by the governance commands.
Rpc = Annotated[str, typer.Option(help="JSON-RPC of the chain", envvar="ZKRISK_RPC_URL")]
DeploymentFile = Annotated[Path, typer.Option(help="deployment manifest (addresses, model ids)",
                                              envvar="ZKRISK_DEPLOYMENT_PATH")]
Key = Annotated[Optional[str], typer.Option(help="signer private key (better: the env var)", envvar="ZKRISK_SIGNER_KEY",
                                            show_default=False)]
ProposalId = Annotated[int, typer.Argument(help="proposal id (printed by `zkrisk propose`)")]
PublisherKeys = Annotated[Optional[str], typer.Option(
    help="publishers' private keys, comma-separated, to sign the proposal's report batch (k of them; better: "
         "the env var)", envvar="ZKRISK_PUBLISHER_KEYS", show_default=False)]


def _governance(rpc: str, deployment: Path, key: str | None, publisher_keys: str | None = None):
    from oracle.governance import Governance

    keys = [k.strip() for k in (publisher_keys or "").split(",") if k.strip()]
    return Governance.from_files(rpc, deployment, key, keys)


def _governance_step(step):
    """Run a governance step; a refusal is one line on stderr and exit code 1, not a traceback."""
    from oracle.governance import GovernanceError

    try:
        return step()
    except GovernanceError as error:
        typer.echo(f"refused: {error}", err=True)
        raise typer.Exit(1) from None


def _print_tx(receipt) -> None:
    typer.echo(f"tx 0x{bytes(receipt.transactionHash).hex()} (gas {receipt.gasUsed:,})")


@app.command()
def propose(market: str = typer.Option("BTC", help="market whose latest window is proved and proposed"),
            end: Optional[str] = typer.Option(None, help="prove the window ending at this date instead of the latest"),
            upgrade_to: Optional[str] = typer.Option(None, help="propose a model upgrade to MODEL@VERSION instead"),
            k: int = typer.Option(1, help="with --upgrade-to: markets per proof of the new circuit"),
            model_id: Optional[int] = typer.Option(None, help="with --upgrade-to: on-chain id (default: next free)"),
            retire: bool = typer.Option(True, help="with --upgrade-to: deactivate the models it replaces"),
            out: Path = typer.Option(Path("proposal.bundle.json"), help="where to write the proposal's proof bundle"),
            backtest: Optional[Path] = typer.Option(None, help="backtest summary (JSON; default: the model card's)"),
            rpc: Rpc = "http://127.0.0.1:8545", deployment: DeploymentFile = Path(".zkrisk/deployment.json"),
            key: Key = None, publisher_keys: PublisherKeys = None) -> None:
    """Propose to RiskGovernor a proved parameter update (for changes beyond the guardrails; k publishers
    sign its reports) or, with --upgrade-to, a model upgrade (its VKA on the reusable verifier, its card's
    guards, a proof of its outputs)."""
    governance = _governance(rpc, deployment, key, publisher_keys)
    summary = json.loads(backtest.read_text()) if backtest else None
    if upgrade_to is not None:
        proposal = _governance_step(lambda: governance.propose_model(upgrade_to, out, k, model_id, retire, summary))
    else:
        proposal = _governance_step(lambda: governance.propose_update(market.upper(), out, summary, end))
    typer.echo(f"proposal id: {proposal.proposal_id}")
    typer.echo(f"tx {proposal.tx_hash}")
    typer.echo(f"guardrails: {proposal.guardrails}")
    typer.echo(f"bundle: {proposal.bundle_path} (content sha256 {proposal.bundle.content_sha256})")


@app.command()
def vote(proposal_id: ProposalId, support: str = typer.Option("for", help="for, against or abstain"),
         reason: str = typer.Option("", help="reason recorded with the vote"),
         rpc: Rpc = "http://127.0.0.1:8545", deployment: DeploymentFile = Path(".zkrisk/deployment.json"),
         key: Key = None) -> None:
    """Cast a vote on an active proposal."""
    if support not in ("for", "against", "abstain"):
        raise typer.BadParameter("support must be for, against or abstain")
    governance = _governance(rpc, deployment, key)
    _print_tx(_governance_step(lambda: governance.vote(proposal_id, support, reason)))


@app.command()
def queue(proposal_id: ProposalId, rpc: Rpc = "http://127.0.0.1:8545",
          deployment: DeploymentFile = Path(".zkrisk/deployment.json"), key: Key = None) -> None:
    """Queue a succeeded proposal in the timelock."""
    governance = _governance(rpc, deployment, key)
    _print_tx(_governance_step(lambda: governance.queue(proposal_id)))


@app.command()
def execute(proposal_id: ProposalId, rpc: Rpc = "http://127.0.0.1:8545",
            deployment: DeploymentFile = Path(".zkrisk/deployment.json"), key: Key = None) -> None:
    """Execute a queued proposal once its timelock delay has passed."""
    governance = _governance(rpc, deployment, key)
    _print_tx(_governance_step(lambda: governance.execute(proposal_id)))


@app.command()
def cancel(proposal_id: ProposalId, rpc: Rpc = "http://127.0.0.1:8545",
           deployment: DeploymentFile = Path(".zkrisk/deployment.json"), key: Key = None) -> None:
    """Cancel a queued proposal (the guardian, through the timelock's CANCELLER_ROLE) or a pending one
    (its proposer)."""
    governance = _governance(rpc, deployment, key)
    _print_tx(_governance_step(lambda: governance.cancel(proposal_id)))


if __name__ == "__main__":
    app()

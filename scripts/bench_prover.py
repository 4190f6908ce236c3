"""Proving benchmark of the production model: tuned plan vs EZKL's untuned defaults, K markets per proof.

    python scripts/bench_prover.py --json PATH [--quick] [--ks 1,4,16] [--runs N] [--model ID@VERSION]

For each K: setup seconds (settings if missing, compile, keys) into a fresh key cache, prove seconds
p50/p95 over the runs, off-chain verify seconds, proving key bytes, peak RSS of the proving process
(a child process: its max RSS as the kernel accounts it), on-chain gas of verifyProof on anvil
(whole transaction, VKA passed in calldata to the reusable verifier; also the plain verifier where
it fits under the size limit), gas per market and the largest float-vs-circuit error. The same
for EZKL's defaults under `baseline`. Writes PATH (JSON) and PATH with .md (a markdown table).
Keys it creates (hundreds of MB each) are deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from functools import lru_cache
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

import numpy as np  # noqa: E402

from models.spec import MARKETS  # noqa: E402
from models.versions import ModelVersion, load_version  # noqa: E402
from oracle.runtime import split_key  # noqa: E402
from prover.backends import select_backend  # noqa: E402
from prover.circuit import EZKL_DEFAULTS, PRODUCTION_PLAN, Circuit, build_circuit, circuits_root  # noqa: E402

PLANS = {"production": PRODUCTION_PLAN, "baseline": EZKL_DEFAULTS}
REPORTED = ("setup_s", "prove_s_p50", "prove_s_p95", "verify_s", "pk_bytes", "peak_rss_bytes", "verify_gas",
            "gas_per_market", "plain_verify_gas", "plain_verifier_bytes", "max_abs_error_bps", "logrows")


@lru_cache(maxsize=None)
def version_of(model: str | None) -> ModelVersion:
    """The model version `ID@VERSION` (default: the production one), loaded once per process."""
    return load_version(*split_key(model)) if model else load_version()


def market_vectors(model: str | None, k: int) -> np.ndarray:
    """K real input vectors: the latest window of each bundled market, cycled (epochs as published)."""
    version = version_of(model)
    latest = [version.input_vector(symbol) for symbol in MARKETS]
    return np.stack([latest[i % len(latest)] for i in range(k)])


def _build(model: str | None, plan_name: str, k: int, circuits_dir: Path, cache_dir: Path) -> Circuit:
    return build_circuit(version_of(model), k, PLANS[plan_name], circuits_dir=circuits_dir, cache_dir=cache_dir,
                         progress=lambda message: print(f"  [{plan_name} K={k}] {message}", file=sys.stderr))


def child_prove(model: str | None, plan_name: str, k: int, circuits_dir: Path, cache_dir: Path, runs: int,
                out: Path) -> None:
    """Runs in the measured child process: prove `runs` times, verify, write timings and the last proof."""
    from prover.proving import prove, verify

    circuit = _build(model, plan_name, k, circuits_dir, cache_dir)
    vectors = market_vectors(model, k)
    backend = select_backend()
    # Proof files live under the output's folder, which the parent removes.
    results = [prove(circuit, vectors, workdir=out.parent / f"run{i}", backend=backend) for i in range(runs)]
    started = time.perf_counter()
    if not verify(circuit, results[-1].proof_path):
        raise SystemExit("the benchmark proof does not verify")
    verify_s = time.perf_counter() - started
    last = results[-1]
    out.write_text(json.dumps({
        "prove_s": [r.prove_seconds for r in results], "witness_s": [r.witness_seconds for r in results],
        "verify_s": verify_s, "proof": last.proof.hex(), "instances": [str(i) for i in last.instances],
        "error_bps_by_output": {n: max(r.error_bps_by_output[n] for r in results) for n in last.error_bps_by_output},
        "backend": backend.name}))


def measure_proving(model: str | None, plan_name: str, k: int, circuits_dir: Path, cache_dir: Path,
                    runs: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "child.json"
        command = [sys.executable, __file__, "--child", model or "", plan_name, str(k), str(circuits_dir), str(cache_dir),
                   str(runs), str(out)]
        process = subprocess.Popen(command, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        _, status, usage = os.wait4(process.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"proving child for {plan_name} K={k} failed ({status})")
        measured = json.loads(out.read_text())
    measured["peak_rss_bytes"] = usage.ru_maxrss * 1024  # Linux reports kilobytes
    return measured


def measure_gas(circuit: Circuit, proof: bytes, instances: list[int]) -> dict[str, Any]:
    from prover.errors import VerifierGenerationError
    from prover.evm import deploy_plain_verifier, deploy_reusable_verifier, local_chain, plain_verifier_size

    with local_chain() as chain:
        reusable = deploy_reusable_verifier(chain, circuit)
        accepted, gas = reusable.verify(proof, instances)
        if not accepted:
            raise SystemExit(f"the reusable verifier rejected the K={circuit.k} proof")
        vka_bytes = b"".join(reusable.vka or [])
        measured = {"verify_gas": gas, "vka_words": len(reusable.vka or []),
                    # What the VKA words cost as transaction calldata (4 gas a zero byte, 16 otherwise):
                    # a caller holding the VKA on chain (VkaStore) pays a code read instead.
                    "vka_calldata_gas": sum(4 if b == 0 else 16 for b in vka_bytes)}
        try:
            plain = deploy_plain_verifier(chain, circuit)
        except VerifierGenerationError:
            return {**measured, "plain_verify_gas": None, "plain_verifier_bytes": plain_verifier_size(circuit)}
        plain_accepted, plain_gas = plain.verify(proof, instances)
        if not plain_accepted:
            raise SystemExit(f"the plain verifier rejected the K={circuit.k} proof")
        return {**measured, "plain_verify_gas": plain_gas, "plain_verifier_bytes": plain.runtime_size}


def bench_one(model: str | None, plan_name: str, k: int, circuits_dir: Path, cache_dir: Path,
              runs: int) -> dict[str, Any]:
    started = time.perf_counter()
    circuit = _build(model, plan_name, k, circuits_dir, cache_dir)
    setup_s = time.perf_counter() - started
    proving = measure_proving(model, plan_name, k, circuits_dir, cache_dir, runs)
    gas = measure_gas(circuit, bytes.fromhex(proving["proof"]), [int(i) for i in proving["instances"]])
    times = np.asarray(proving["prove_s"])
    return {
        "setup_s": round(setup_s, 2), "prove_s_p50": round(float(np.percentile(times, 50)), 3),
        "prove_s_p95": round(float(np.percentile(times, 95)), 3), "prove_runs": len(times),
        "prove_s_per_market_p50": round(float(np.percentile(times, 50)) / k, 3),
        "verify_s": round(proving["verify_s"], 3), "pk_bytes": circuit.paths.pk.stat().st_size,
        "peak_rss_bytes": proving["peak_rss_bytes"], **gas, "gas_per_market": gas["verify_gas"] // k,
        "plain_gas_per_market": gas["plain_verify_gas"] // k if gas["plain_verify_gas"] else None,
        "max_abs_error_bps": round(max(proving["error_bps_by_output"].values()), 4),
        "error_bps_by_output": {n: round(e, 4) for n, e in proving["error_bps_by_output"].items()},
        "calibration_max_abs_error_bps": circuit.manifest["fidelity"]["max_abs_error_bps"],
        "logrows": circuit.logrows, "input_scale": circuit.input_scale, "output_scale": circuit.output_scale,
        "num_inner_cols": circuit.settings["run_args"]["num_inner_cols"],
        "decomp": [circuit.settings["run_args"]["decomp_base"], circuit.settings["run_args"]["decomp_legs"]],
        "backend": proving["backend"], "gpu": "not measured (no GPU on this machine)",
    }


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.3g}" if value < 100 else f"{value:,.0f}"
    if isinstance(value, int) and value >= 10_000:
        return f"{value / 1e6:.1f} M" if value >= 10_000_000 else f"{value:,}"
    return str(value)


def markdown(results: dict[str, Any], meta: dict[str, Any]) -> str:
    lines = [f"Prover benchmark, {meta['model']}, ezkl {meta['ezkl']}, {meta['cpus']} CPUs, "
             f"{meta['date']} (load average at start {meta['load']}); GPU: not measured.",
             "setup_s = compile + keys into an empty cache (+ calibration for the EZKL-defaults build, whose "
             "settings are not committed); gas = whole verifyProof transaction on anvil, reusable verifier with "
             "the VKA in calldata; plain_* = per-circuit verifier (— when over the 24,576-byte limit).", "",
             "| K | plan | " + " | ".join(REPORTED) + " |", "|" + "---|" * (len(REPORTED) + 2)]
    for k, entry in results.items():
        for name, row in (("tuned", entry), ("EZKL defaults", entry["baseline"])):
            if row is None:
                continue
            lines.append(f"| {k} | {name} | " + " | ".join(_fmt(row.get(c)) for c in REPORTED) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, required=True, help="where to write the JSON results")
    parser.add_argument("--quick", action="store_true", help="fewer proving runs (2 instead of 5)")
    parser.add_argument("--ks", default="1,4,16", help="markets per proof, comma separated")
    parser.add_argument("--runs", type=int, help="proving runs per configuration (default 5, quick 2)")
    parser.add_argument("--no-baseline", action="store_true", help="skip EZKL's untuned defaults")
    parser.add_argument("--model", help="ID@VERSION to prove (default: the production model)")
    args = parser.parse_args()
    runs = args.runs or (2 if args.quick else 5)
    version = version_of(args.model)
    meta = {"model": f"{version.model_id}@{version.version}", "ezkl": __import__("ezkl").__version__,
            "cpus": os.cpu_count(), "machine": platform.machine(), "load": round(os.getloadavg()[0], 1),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    results: dict[str, Any] = {}
    scratch = Path(tempfile.mkdtemp(prefix="zkrisk-bench-"))
    try:
        for k in (int(x) for x in args.ks.split(",")):
            print(f"K={k}", file=sys.stderr)
            # Production settings are the committed ones (generated once into the ignored cache for a K the
            # repository has no circuit for); keys go to a fresh cache so setup is measured.
            entry = bench_one(args.model, "production", k, circuits_root(version, k), scratch / "production", runs)
            entry["baseline"] = (None if args.no_baseline else
                                 bench_one(args.model, "baseline", k, scratch / "baseline-circuits", scratch / "baseline", runs))
            results[str(k)] = entry
            shutil.rmtree(scratch / "production", ignore_errors=True)
            shutil.rmtree(scratch / "baseline", ignore_errors=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")
    table = markdown(results, meta)
    args.json.with_suffix(".md").write_text(table)
    print(table)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        model, plan, k, circuits, cache, runs, out = sys.argv[2:9]
        child_prove(model or None, plan, int(k), Path(circuits), Path(cache), int(runs), Path(out))
    else:
        main()

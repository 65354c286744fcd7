"""Benchmark: sequence threading (cryoray.modelbuild) on realistic states from deposited models.

    .venv/bin/python -m tests.benchmarks.bench_build [--quick] [--dense-limit 600] [--json out.json] [--smoke]

(from the repository root; ``--smoke``: 5ME2 at 0.3 Å noise only, ours and dense).

Inputs (tests/support/building.py): the Cα atoms of 5ME2 (4 chains), 6GYN (4 chains), 1WCM
(12 chains) and three copies of 1WCM 200 Å apart (36 chains, 11,706 residues); Gaussian noise
of 0, 0.3 and 0.5 Å per axis; 0 % or 5 % of the true Cα removed; 30 % decoys 1.5–3 Å from true
Cα atoms; Dirichlet amino-acid rows favouring the true residue (decoys: their neighbour's).
The sequences are the models' residues, so real chain breaks (unmodelled loops) stay in.

Every case runs in a fresh child process after a warm-up (numba's compiled code loads from its
cache), reporting wall time, peak RSS (VmHWM), the fraction of residues placed within 3 Å of
their true Cα (a copy of the same sequence counts), the fraction on their own state, the total
log-score, the upper bound (sum over chains of each chain's unconstrained optimum over all
states), and a check that no state is used twice. Beside it, where it finishes within
``--dense-limit`` seconds, the published restart algorithm, dense (tests/support/dense_reference.py),
scored under the same model.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from tests.benchmarks.common import parse_args
from tests.support.data import REAL, REPO

STRUCTURES = {
    "5ME2": ("EMD-3488_5ME2_haemoglobin/5me2.pdb", 1),
    "6GYN": ("EMD-0093_6GYN_HCN4-masked/6gyn.pdb", 1),
    "1WCM": ("EMD-1883_RNA-PolII/1WCM.pdb", 1),
    "1WCMx3": ("EMD-1883_RNA-PolII/1WCM.pdb", 3),
}
#: The dense search is not attempted beyond this many states: 1WCM (5,073 states, 3,902 residues)
#: would take an estimated ~15 min per case on 2 cores, 1WCMx3 a 1.7 GiB matrix and days.
DENSE_MAX_STATES = 3000


def make(spec: dict):
    """The synthetic case of a spec (structure, copies, noise, missing, seed)."""
    from tests.support.building import make_case, model_chains, tile

    path, _ = STRUCTURES[spec["structure"]]
    ids, seqs, xyzs = model_chains(str(REAL / path))
    if spec["copies"] > 1:
        ids, seqs, xyzs = tile(ids, seqs, xyzs, spec["copies"], 200.0)
    return make_case(
        ids, seqs, xyzs, noise=spec["noise"], decoy_fraction=0.3, missing_fraction=spec["missing"], seed=spec["seed"]
    )


def evaluate(case, paths: list) -> dict:
    """Accuracy, log-score and validity of per-chain state paths (-1 = unplaced)."""
    import numpy as np

    from cryoray.modelbuild.hmm import build_hmm, encode_sequence

    model = build_hmm(case.states.xyz, case.states.aa_probs)
    within = own = placed = total = 0
    score = 0.0
    for c, path in enumerate(paths):
        path = np.asarray(path)
        ok = path >= 0
        same = [d for d in range(len(paths)) if case.sequences[d] == case.sequences[c]]
        dist = np.min([np.linalg.norm(case.states.xyz[path[ok]] - case.true_xyz[d][ok], axis=1) for d in same], axis=0)
        within += int((dist <= 3.0).sum())
        own += int(np.sum(path[ok] == case.true_state[c][ok]))
        placed += int(ok.sum())
        total += len(path)
        score += model.path_log_score(encode_sequence(case.sequences[c])[ok], path[ok]) if ok.all() else float("nan")
    used = np.concatenate([np.asarray(p)[np.asarray(p) >= 0] for p in paths])
    return {
        "states": len(case.states),
        "residues": total,
        "chains": len(paths),
        "placed": placed,
        "on_true_ca": within / total,
        "on_own_state": own / total,
        "log_score": score,
        "reused_states": int(len(used) - len(np.unique(used))),
    }


def hwm() -> int:
    """Peak resident memory of this process so far (VmHWM), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def run_case(spec: dict) -> dict:
    """One case in this (fresh) process, after a warm-up on a small case: the evaluation, time and peak RSS."""
    import time

    case = make(spec)
    warm = make({**spec, "structure": "5ME2", "copies": 1, "noise": 0.3, "missing": 0.0})
    if spec["method"] == "ours":
        from cryoray.modelbuild import thread_chains

        thread_chains(warm.states, list(zip(warm.chain_ids, warm.sequences, strict=True))[:1])
        base = hwm()
        t0 = time.perf_counter()
        result = thread_chains(case.states, list(zip(case.chain_ids, case.sequences, strict=True)))
        seconds = time.perf_counter() - t0
        paths = [c.states for c in result.chains]
        extra = {"upper_bound": result.upper_bound}
    else:
        from cryoray.modelbuild.hmm import encode_sequence
        from tests.support.dense_reference import dense_model, restart_threading

        lt, le = dense_model(warm.states.xyz[:50], warm.states.aa_probs[:50])
        restart_threading(lt, le, [encode_sequence(warm.sequences[0][:20])])
        base = hwm()
        t0 = time.perf_counter()
        lt, le = dense_model(case.states.xyz, case.states.aa_probs)
        paths = restart_threading(lt, le, [encode_sequence(s) for s in case.sequences])
        seconds = time.perf_counter() - t0
        extra = {}
    peak = hwm()
    return {
        **evaluate(case, paths),
        **extra,
        "seconds": seconds,
        "peak_rss_bytes": peak,
        "peak_over_start_bytes": peak - base,
    }


def run_child(spec: dict, limit: float) -> dict:
    """:func:`run_case` in a fresh process (``--child``), given up after ``limit`` seconds."""
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.bench_build", "--child", json.dumps(spec)],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=limit,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return {"error": f"did not finish within {limit:.0f} s"}
    if proc.returncode != 0:
        return {"error": proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else f"exit {proc.returncode}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="0.3 Å noise and no Cα missing only, no dense reference")
    parser.add_argument("--noises", type=float, nargs="+", default=[0.0, 0.3, 0.5], help="Å per axis")
    parser.add_argument("--missings", type=float, nargs="+", default=[0.0, 0.05], help="fractions of true Cα removed")
    parser.add_argument("--structures", nargs="*", default=list(STRUCTURES))
    parser.add_argument(
        "--dense-limit", type=float, default=600.0, help="seconds before the dense reference is given up"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="also write all rows to this file")
    parser.add_argument("--child", help=argparse.SUPPRESS)  # one case, in the process run_child starts
    args = parse_args(parser, {"structures": ["5ME2"], "noises": [0.3], "missings": [0.0]})
    if args.child:
        print(json.dumps(run_case(json.loads(args.child))))
        return
    noises = (0.3,) if args.quick else args.noises
    missings = (0.0,) if args.quick else args.missings
    rows = []
    header = (
        f"{'case':<22}{'method':<8}{'states':>7}{'res':>7}{'time s':>8}{'peak MB':>8}{'on Cα':>7}{'own':>7}"
        f"{'log-score':>12}{'bound':>12}{'reused':>7}"
    )
    print(header)
    for name in args.structures:
        _, copies = STRUCTURES[name]
        for noise in noises:
            for missing in missings:
                spec = {"structure": name, "copies": copies, "noise": noise, "missing": missing, "seed": args.seed}
                label = f"{name} {noise:.1f}Å {missing * 100:.0f}%"
                methods = ["ours"] if args.quick else ["ours", "dense"]
                for method in methods:
                    row = {"case": label, "method": method, **spec}
                    if method == "dense" and rows and rows[-1].get("states", 0) > DENSE_MAX_STATES:
                        row["error"] = f"not run: {rows[-1]['states']} states (K² per residue, > --dense-limit)"
                    else:
                        row.update(
                            run_child({**spec, "method": method}, args.dense_limit if method == "dense" else 3600)
                        )
                    rows.append(row)
                    if "error" in row:
                        print(f"{label:<22}{method:<8}  {row['error']}")
                        continue
                    bound = f"{row['upper_bound']:>12.1f}" if "upper_bound" in row else f"{'':>12}"
                    print(
                        f"{label:<22}{method:<8}{row['states']:>7}{row['residues']:>7}{row['seconds']:>8.1f}"
                        f"{row['peak_rss_bytes'] / 2**20:>8.0f}{row['on_true_ca']:>7.3f}{row['on_own_state']:>7.3f}"
                        f"{row['log_score']:>12.1f}{bound}{row['reused_states']:>7}",
                        flush=True,
                    )
                if not args.quick and "error" not in rows[-1] and "error" not in rows[-2]:
                    better = rows[-2]["log_score"] >= rows[-1]["log_score"] - 1e-6
                    print(
                        f"{'':<22}ours >= dense restart: {better} "
                        f"({rows[-2]['log_score'] - rows[-1]['log_score']:+.1f})"
                    )
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()

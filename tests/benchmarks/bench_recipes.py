"""Leave-one-map-out: do the shipped recipes beat their no-network baselines on real maps they never saw?

    .venv/bin/python -m tests.benchmarks.bench_recipes [--held-out EMD-3488 EMD-0093 EMD-21457]
        [--build-steps 3000] [--enhance-steps 1200] [--train-max-resolution 5] [--out DIR] [--json] [--smoke]
        [--export platform/cryoray/bundle/defaults [--export-fold EMD-3488]]

(from the repository root). The real entries with a deposited model (../shared/data/real) are
ingested once into one store (labels ca_heatmap, amino_acid and the simulated map; maps normalised
at their 99.999th percentile, see :data:`STORE`). For each held-out entry,
the ``builder_unet`` and ``enhance_unet`` example recipes are trained on the other entries at
``--train-max-resolution`` Å or better (the 21 Å and 35 Å maps show no Cα and would teach blur),
with the held-out entry excluded from training and validation (``data.exclude_entries``); the
checkpoint kept is the best by validation loss on the training maps' held-out sub-grids, never by
the held-out map. Then ``cryoray benchmark`` evaluates the held-out entry: the built model against
the deposited one next to the peak baseline's (``--baseline peaks``: density maxima threaded with
uniform amino acids), and the enhanced map next to the deposited map itself and to it low-pass
filtered at its resolution (``--baseline lowpass``; CC_mask, Q-score, map–model FSC 0.5). Goals
(issue 15): Cα F1 ≥ peaks + 0.10 and sequence match above the peaks'; the enhanced map's CC_mask
and Q-score above the input's (and, reported beside them, above the low-pass map's).

``--export DIR`` makes the shipped bundles: the two networks of ``--export-fold`` (default
EMD-3488, so the bundled sample is a map they never saw) go to ``DIR/builder`` and
``DIR/enhancer`` (weights and ``bundle.json`` only), each with a ``MODEL_CARD.md`` holding the
recipe, the training entries and every fold's held-out numbers.
"""

from __future__ import annotations

import argparse
import csv
import json
import shutil
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ray
from pydantic import TypeAdapter

from cryoray.bundle import REGRESSION_PERCENTILE, WEIGHTS, read_bundle, write_bundle
from cryoray.bundle.defaults import MODEL_CARD
from cryoray.config import validate_config
from cryoray.config.loading import load_config
from cryoray.infer.batch_config import BatchInferConfig
from cryoray.models import build_model
from cryoray.models.config import ModelConfig
from cryoray.pipelines.entry import ingest_entry
from cryoray.pipelines.ingest_config import IngestConfig
from cryoray.pipelines.manifest import ManifestRow
from cryoray.preprocessing import PrepareConfig
from cryoray.store import StoreWriter
from cryoray.train import TrainConfig, example_config, run_training
from cryoray.train.run import plan_training
from tests.benchmarks.common import parse_args
from tests.support.data import ENTRIES, REAL, local_rows, write_manifest

#: one store for both recipes: maps normalised at their 99.999th percentile of positive voxels, so
#: nothing is clipped. The 95th percentile (Cryo2Struct's) saturates maps very differently (it clips
#: 99 % of the masked EMD-0093's Cα voxels, 38 % of EMD-21457's): the builder instead learns every
#: saturation from its input gain augmentation; the enhancer needs the contrast an enhanced map is
#: judged on.
STORE = "real_p99999.zarr"
STORE_CONFIG = IngestConfig(
    labels=("ca_heatmap", "amino_acid", "simulated"), prepare=PrepareConfig(percentile=REGRESSION_PERCENTILE)
)
MODEL_KEYS = ("ca_f1", "ca_recall", "ca_precision", "sequence_match", "residue_coverage", "tm_score")
MAP_KEYS = ("cc_mask", "cc_box", "q_score", "map_model_fsc_0_5")


def ingest(store: Path, config: IngestConfig, entries: list[str]) -> None:
    """The real entries with models in one store (in-process: five maps, no Ray needed)."""
    t0 = time.perf_counter()
    with StoreWriter(str(store), config.layout()) as writer:
        for entry_id in entries:
            map_path, model, sequence, resolution = ENTRIES[entry_id]
            row = ManifestRow(
                entry_id=entry_id,
                map=str(REAL / map_path),
                model=str(REAL / model),
                sequence=str(REAL / sequence),
                resolution=resolution,
            )
            ingest_entry(row, config, str(store), config.layout())
            writer.commit(entry_id)
    print(f"ingested {len(entries)} entries into {store} in {time.perf_counter() - t0:.0f} s", flush=True)


def train(recipe: str, store: Path, exclude: list[str], steps: int, epochs: int, output: Path) -> dict:
    """Train a recipe for about ``steps`` steps on the store without ``exclude``: ``(best checkpoint, seconds)``.

    The steps are cut into at least ``epochs`` epochs, more when an epoch over the training
    sub-grids is shorter than ``steps / epochs`` (a few maps give only ~150 sub-grids). A
    finished training recorded in ``output/RECIPE.json`` is reused (``--out`` resumes a run).
    """
    record = output / f"{recipe}.json"
    if record.exists():
        return json.loads(record.read_text())
    config = load_config(TrainConfig, example_config(recipe)).model_dump()
    config["output"] = str(output)
    config["data"].update(store=str(store), exclude_entries=exclude)
    config["schedule"].update(max_steps_per_epoch=max(1, steps // epochs))
    per_epoch = plan_training(validate_config(TrainConfig, config, source=recipe), source=recipe).steps_per_epoch
    config["schedule"]["epochs"] = max(epochs, -(-steps // per_epoch))
    t0 = time.perf_counter()
    result = run_training(validate_config(TrainConfig, config, source=recipe), source=recipe)
    done = {"checkpoint": str(result.best_checkpoint or result.checkpoint), "seconds": time.perf_counter() - t0}
    record.write_text(json.dumps(done))
    return done


def evaluate(held: str, runs: dict[str, dict], output: Path) -> dict[str, dict[str, float]]:
    """``cryoray benchmark`` of each network on the held-out entry, beside its no-network baseline
    (the builder's model beside the peak model's, the enhanced map beside the deposited map
    low-pass filtered at its resolution): the rows by kind."""
    from cryoray.benchmark.run import run_benchmark

    manifest = write_manifest(output / "test.csv", local_rows([held]))
    keys = MODEL_KEYS + MAP_KEYS
    kinds: dict[str, dict[str, float]] = {}
    for name, run in runs.items():
        report = output / f"benchmark_{name}"
        baselines = ["peaks"] if name == "builder" else ["lowpass"]
        config = BatchInferConfig(models=(run["checkpoint"],))
        run_benchmark(str(manifest), str(report), config, baselines=baselines, num_cpus=2, progress=False)
        with open(report / "results.csv") as stream:
            for row in csv.DictReader(stream):
                kinds[row["kind"]] = {k: round(float(row[k]), 4) for k in keys if row.get(k) not in (None, "")}
    return kinds


def judge(kinds: dict[str, dict[str, float]]) -> dict[str, object]:
    """The goals of issue 15 on one held-out map."""
    built, peaks = kinds.get("built model", {}), kinds.get("built model (peaks)", {})
    enhanced, deposited, lowpass = (kinds.get(k, {}) for k in ("enhanced:output", "deposited", "lowpass"))
    goals = {}
    if built and peaks:
        goals["ca_f1_gain"] = round(built["ca_f1"] - peaks["ca_f1"], 4)
        goals["ca_f1_goal_met"] = goals["ca_f1_gain"] >= 0.10
        goals["sequence_match_gain"] = round(built["sequence_match"] - peaks["sequence_match"], 4)
    if enhanced and deposited:
        for key in ("cc_mask", "q_score"):
            if key in enhanced and key in deposited:
                goals[f"{key}_gain"] = round(enhanced[key] - deposited[key], 4)
            if key in enhanced and key in lowpass:  # beyond the goal: what filtering alone gives
                goals[f"{key}_gain_over_lowpass"] = round(enhanced[key] - lowpass[key], 4)
    return goals


CARD = """# {title}

{what}

- **Recipe:** `cryoray/train/configs/{recipe}.yaml` ({steps} optimiser steps of batch 4, 2 CPU cores,
  {minutes:.0f} min), network `{network}` with {parameters:,} parameters.
- **Trained on:** {trained_on} (the real entries with a model at {max_res:g} Å or better, less the
  held-out one); the checkpoint is the best by validation loss on their held-out sub-grids.
- **Preprocessing:** the bundle's (1 Å grid, map divided by its {percentile:g}th percentile of
  positive values and clipped to [0, 1], 32³ boxes with the c2s tiling).
- **Made by:** `python -m tests.benchmarks.bench_recipes --build-steps {build_steps} --enhance-steps
  {enhance_steps} --epochs {epochs} --export platform/cryoray/bundle/defaults` (fold {fold}).

## Held-out numbers (leave-one-map-out, same recipe and steps; each map never seen in its fold)

{table}

## Limits

{limits}
"""

BUILDER_LIMITS = """- Learned from two maps at 3.2–3.4 Å (~2,200 residues): it knows what a Cα looks like in
  density at about that resolution, but next to nothing about residue types (20 classes from about
  a hundred examples each), so the threading leans on geometry and sequence match stays near chance.
- Trained with the input's gain drawn from 0.7–3 on maps normalised at their 99.999th percentile,
  it reads maps normalised at any level in that range alike; a map whose contrast differs much from
  these (unsharpened, very noisy) may need `--threshold`.
- It has never seen nucleic acids, ligands, maps worse than ~4 Å or better than 3 Å. Compare with
  `--candidates peaks` on yours (`cryoray benchmark --baseline peaks`).
- The map is expected on the input's frame at any voxel size (it is resampled to 1 Å).
- Cα candidates are the heatmap's local maxima above 0.3, clustered within 2 Å (`--threshold`,
  `--cluster-radius`); the peak baseline (`--candidates peaks`) remains the fallback."""

ENHANCER_LIMITS = """- A residual U-Net that starts as the identity: it can only make small, local changes, learned
  from two maps at 3.2–3.4 Å towards maps simulated from their deposited models. It raised CC_mask
  on the map it never saw (EMD-3488) but lowered the mean Q-score slightly, and on a masked map
  (EMD-0093 fold) it puts density outside the mask (CC_box falls). The deposited map low-pass
  filtered at its resolution (no network; `cryoray benchmark --baseline lowpass`) scores above the
  input on both CC_mask and Q-score on all three maps and above this enhancer on Q-score on all
  three: compare with it before using the enhancer's output. Its output is a
  map made to look like a model's density: never use it to validate the model it was compared
  with, and keep the deposited map for deposition and for judging fit.
- Not trained on maps worse than ~4 Å, on nucleic acids or on membranes' micelles."""


def _table(results: dict[str, dict], kinds: tuple[str, ...], keys: tuple[str, ...]) -> str:
    lines = ["| held-out map | " + " | ".join(f"{kind}: {key}" for kind in kinds for key in keys) + " |"]
    lines.append("|---" * (1 + len(kinds) * len(keys)) + "|")
    for held, fold in results.items():
        cells = [f"{fold['kinds'].get(kind, {}).get(key, float('nan')):.3f}" for kind in kinds for key in keys]
        lines.append(f"| {held} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def export(summary: dict, fold: str, target: Path) -> None:
    """Copy the fold's two networks into ``target/builder`` and ``target/enhancer`` with model cards."""
    results = summary["folds"]
    for name, (recipe, title, what, kinds, keys, limits) in {
        "builder": (
            "builder_unet",
            "cryoray default builder (`default:builder`)",
            "Cα heatmap and residue types from a cryo-EM map, for `cryoray build-model MAP FASTA -o MODEL.cif`.",
            ("built model (peaks)", "built model"),
            ("ca_f1", "sequence_match", "residue_coverage"),
            BUILDER_LIMITS,
        ),
        "enhancer": (
            "enhance_unet",
            "cryoray default enhancer (`default:enhancer`)",
            "Map enhancement towards model-like density, for `cryoray enhance MAP -o OUT.mrc`.",
            ("deposited", "lowpass", "enhanced:output"),
            ("cc_mask", "q_score", "map_model_fsc_0_5"),
            ENHANCER_LIMITS,
        ),
    }.items():
        source = Path(results[fold][f"checkpoint_{name}"])
        out = target / name
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        shutil.copyfile(source / WEIGHTS, out / WEIGHTS)
        bundle = read_bundle(source)
        network = dict(bundle.network)
        parameters = sum(p.numel() for p in build_model(TypeAdapter(ModelConfig).validate_python(network)).parameters())
        # the training record without this machine's paths (store, MLflow database)
        training = dict(bundle.provenance.get("training", {}))
        training.pop("tracking_uri", None)
        training["store"] = {k: v for k, v in training.get("store", {}).items() if k != "url"}
        made = {**bundle.provenance, "training": training}
        write_bundle(
            out,
            replace(
                bundle,
                provenance={**made, "recipe": recipe, "trained_on": results[fold]["trained_on"], "held_out": fold},
            ),
        )
        steps = summary["build_steps"] if name == "builder" else summary["enhance_steps"]
        (out / MODEL_CARD).write_text(
            CARD.format(
                title=title,
                what=what,
                recipe=recipe,
                steps=steps,
                minutes=results[fold][f"seconds_train_{name}"] / 60,
                network=network["name"],
                parameters=parameters,
                trained_on=", ".join(results[fold]["trained_on"]),
                max_res=summary["train_max_resolution"],
                build_steps=summary["build_steps"],
                epochs=summary["epochs"],
                enhance_steps=summary["enhance_steps"],
                fold=fold,
                percentile=bundle.preprocessing.percentile,
                table=_table(results, kinds, keys),
                limits=limits,
            )
        )
        print(f"exported {out} ({parameters:,} parameters)", flush=True)


def run_folds(args: argparse.Namespace, out: Path) -> dict:
    """Train and evaluate every fold; the summary is also written to ``out/results.json``."""
    if not (out / STORE).exists():  # --out keeps the store for the next run
        ingest(out / STORE, STORE_CONFIG, args.entries)
    low = [e for e in args.entries if ENTRIES[e][3] > args.train_max_resolution]
    results: dict[str, dict] = {}
    for held in args.held_out:
        fold = out / held
        exclude = sorted({held, *low})
        runs = {
            name: train(recipe, out / STORE, exclude, steps, args.epochs, fold / "runs")
            for name, recipe, steps in (
                ("builder", "builder_unet", args.build_steps),
                ("enhancer", "enhance_unet", args.enhance_steps),
            )
        }
        t0 = time.perf_counter()
        kinds = evaluate(held, runs, fold)
        results[held] = {
            "trained_on": sorted(set(args.entries) - set(exclude)),
            **{f"checkpoint_{name}": run["checkpoint"] for name, run in runs.items()},
            **{f"seconds_train_{name}": round(run["seconds"]) for name, run in runs.items()},
            "seconds_evaluate": round(time.perf_counter() - t0),
            "kinds": kinds,
            "goals": judge(kinds),
        }
        print(json.dumps({held: results[held]}), flush=True)
    summary = {
        "build_steps": args.build_steps,
        "enhance_steps": args.enhance_steps,
        "epochs": args.epochs,
        "train_max_resolution": args.train_max_resolution,
        "folds": results,
    }
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--held-out", nargs="+", default=["EMD-3488", "EMD-0093", "EMD-21457"])
    parser.add_argument("--entries", nargs="+", default=sorted(ENTRIES), help="the entries in the store")
    parser.add_argument("--build-steps", type=int, default=3000, help="builder optimiser steps (batch 4)")
    parser.add_argument("--enhance-steps", type=int, default=1200, help="enhancer optimiser steps (batch 4)")
    parser.add_argument("--epochs", type=int, default=6, help="the steps are cut into this many epochs")
    parser.add_argument("--train-max-resolution", type=float, default=5.0, help="train on entries at least this good")
    parser.add_argument("--out", type=Path, help="keep the store, runs and reports here (default: a temporary folder)")
    parser.add_argument("--json", action="store_true", help="print the results as one JSON document at the end")
    parser.add_argument("--export", type=Path, help="write the shipped bundles (builder/, enhancer/) here")
    parser.add_argument("--export-fold", default="EMD-3488", help="the fold whose networks --export ships")
    parser.add_argument("--export-only", action="store_true", help="export from --out's results.json, no training")
    smoke = {"held_out": ["EMD-21457"], "entries": ["EMD-21457", "EMD-3488"], "build_steps": 4, "enhance_steps": 4}
    args = parse_args(parser, {**smoke, "epochs": 2})
    unknown = sorted(set(args.held_out) - set(args.entries) | set(args.entries) - set(ENTRIES))
    if unknown:
        parser.error(f"unknown entries {unknown}; choose from {sorted(ENTRIES)} (held-out ones among --entries)")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    with tempfile.TemporaryDirectory() as tmp:
        out = args.out or Path(tmp)
        summary = json.loads((out / "results.json").read_text()) if args.export_only else run_folds(args, out)
        for held, fold in summary["folds"].items():
            k = fold["kinds"]
            line = [held]
            for kind in ("built model (peaks)", "built model"):
                if kind in k:
                    line.append(f"{kind}: F1 {k[kind]['ca_f1']:.3f} seq {k[kind]['sequence_match']:.3f}")
            for kind in ("deposited", "lowpass", "enhanced:output"):
                if kind in k:
                    cc, q = (k[kind].get(key, float("nan")) for key in ("cc_mask", "q_score"))
                    line.append(f"{kind}: CC_mask {cc:.3f} Q {q:.3f}")
            print(" | ".join(line), flush=True)
        if args.export:
            export(summary, args.export_fold, args.export)
        if args.json:
            print(json.dumps(summary))


if __name__ == "__main__":
    main()

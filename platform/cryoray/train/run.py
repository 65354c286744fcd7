"""Launch a training run on Ray Train: checks first, then the data, MLflow and the trainer.

Everything that can be wrong with a config (unknown model, missing store, labels the store lacks,
box and model sizes that disagree, heads without targets, too few CPUs) fails here, before any
worker starts, with one :class:`~cryoray.errors.ConfigError`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import fsspec
import ray
import ray.train
import torch
import yaml
from ray.train.torch import TorchTrainer

from cryoray.data import class_counts, plan_blocks, read_subgrids
from cryoray.data.augment import crop_size
from cryoray.errors import ConfigError
from cryoray.io.sources import write_bytes
from cryoray.models import build_model
from cryoray.runtime import ensure_ray
from cryoray.store import SubgridStore
from cryoray.train.config import TrainConfig, is_remote
from cryoray.train.gan import gan_arrays, gan_loop
from cryoray.train.loop import train_loop
from cryoray.train.progress import TrainingProgress
from cryoray.train.targets import CLASS_NAMES, is_classification
from cryoray.train.tracking import Tracker, default_tracking_uri, flatten, open_run
from cryoray.viz.training import save_curves

__all__ = ["RunResult", "TrainPlan", "check_cluster", "keep_artifact", "plan_training", "run_training"]

RUN_RECORD = "cryoray_run.json"


@dataclass(frozen=True)
class TrainPlan:
    """What the checks found: the store, the read blocks, class counts and step counts."""

    config: TrainConfig
    store: SubgridStore
    train_blocks: list
    val_blocks: list
    class_counts: dict[str, list[int] | None]
    steps_per_epoch: int

    @property
    def total_steps(self) -> int:
        return self.steps_per_epoch * self.config.schedule.epochs


@dataclass(frozen=True)
class RunResult:
    run_dir: str
    checkpoint: str | None
    best_checkpoint: str | None
    metrics: dict
    tracking_uri: str
    mlflow_run_id: str


def plan_training(config: TrainConfig, *, source: object) -> TrainPlan:
    """Check ``config`` against its store and model, and plan the data; no worker is started.

    Raises:
        ConfigError: anything in the config that cannot work, naming the key.
        SourceError, StoreSchemaError: the store is missing or invalid.
    """
    with torch.device("meta"):
        model = build_model(config.model)  # shapes only, no memory
    heads = dict(model.out_channels_by_head)
    if set(heads) != set(config.targets):
        raise ConfigError(
            source,
            f"targets: the {config.model.name} model has heads {sorted(heads)}, targets name {sorted(config.targets)}",
        )
    store = SubgridStore.open(config.data.store)
    kinds = store.settings["label_kinds"]
    box = store.settings["tiling"]["box"]
    try:
        side = crop_size(config.data.augment, box)
    except ValueError as exc:
        raise ConfigError(source, f"data.{exc}") from exc
    if side != config.model.img_size:
        raise ConfigError(
            source,
            f"model.img_size is {config.model.img_size} but the data gives {side}³ sub-grids (store boxes "
            f"{box}³, data.augment.crop {config.data.augment.crop})",
        )
    _check_embedding(config, model, store, source)
    for head, target in config.targets.items():
        if target.label not in kinds:
            raise ConfigError(
                source,
                f"targets.{head}.label: the store {store.url} has no '{target.label}' labels (it has "
                f"{', '.join(kinds)})",
            )
        task = "classification" if is_classification(target.label) else "regression"
        if target.loss.task != task:
            raise ConfigError(
                source, f"targets.{head}.loss: {target.loss.task} loss for the {task} label '{target.label}'"
            )
        wanted = len(CLASS_NAMES[target.label]) if task == "classification" else 1
        if heads[head] != wanted:
            raise ConfigError(
                source, f"model: head '{head}' has {heads[head]} output channels, '{target.label}' needs {wanted}"
            )
    gan = config.gan_settings()
    if gan is not None and gan.target_mask and gan.target_mask not in kinds:
        raise ConfigError(source, f"gan.target_mask: the store {store.url} has no '{gan.target_mask}' labels")
    train_blocks, val_blocks = _plan_splits(store, config, source)
    for split, blocks in (("train", train_blocks), ("val", val_blocks)):
        if not blocks:
            raise ConfigError(source, f"data.store: {store.url} has no {split} sub-grids")
    counts = {
        head: class_counts(store, train_blocks, t.label, len(CLASS_NAMES[t.label])).tolist()
        if is_classification(t.label)
        else None
        for head, t in config.targets.items()
    }
    n_train = sum(b.size for b in train_blocks)
    per_step = config.batch_size * config.workers.num_workers
    steps = n_train // per_step
    if steps == 0:
        raise ConfigError(
            source,
            f"batch_size: {n_train} training sub-grids are fewer than one step ({config.batch_size} × "
            f"{config.workers.num_workers} workers)",
        )
    if config.schedule.max_steps_per_epoch:
        steps = min(steps, config.schedule.max_steps_per_epoch)
    return TrainPlan(config, store, train_blocks, val_blocks, counts, steps)


def _check_embedding(config: TrainConfig, model: torch.nn.Module, store: SubgridStore, source: object) -> None:
    """With ``data.embedding``, the store must hold embeddings as wide as the network's ``embedding_dim``."""
    if not config.data.embedding:
        return
    wanted = getattr(model, "embedding_dim", None)
    if wanted is None:
        raise ConfigError(source, f"data.embedding: the {config.model.name} model takes no embedding")
    if store.embedding_dim is None:
        raise ConfigError(
            source, f"data.embedding: the store {store.url} has no embeddings (ingest with `--embedding structure`)"
        )
    if store.embedding_dim != wanted:
        raise ConfigError(
            source,
            f"model.embedding_dim is {wanted} but the store's {store.settings['embedding']['name']} embeddings "
            f"have {store.embedding_dim} features",
        )


def _plan_splits(store: SubgridStore, config: TrainConfig, source: object) -> tuple[list, list]:
    """Training and validation blocks; ``holdout: auto`` takes the store's splits when they give a validation set."""
    data = config.data
    holdout = data.holdout
    unknown = sorted(set(data.exclude_entries) - set(store.entries))
    if unknown:
        raise ConfigError(source, f"data.exclude_entries: {unknown} not in the store {store.url}")
    args = {"val_fraction": data.val_fraction, "block_subgrids": data.block_subgrids, "exclude": data.exclude_entries}
    if holdout == "auto":
        splits = store.attrs["splits"]
        has_val = splits is not None and "val" in splits["assignment"].values()
        holdout = "splits" if has_val else "subgrids"
    try:
        return plan_blocks(store, "train", holdout=holdout, **args), plan_blocks(store, "val", holdout=holdout, **args)
    except ValueError as exc:
        raise ConfigError(source, f"data.holdout: {exc}") from exc


def check_cluster(config: TrainConfig, source: object, *, runs: int = 1, per_run_cpus: float = 0.0) -> None:
    """Refuse worker settings the connected cluster cannot run without starving data reads.

    ``runs`` trainings at once (a sweep's concurrent trials), each with ``per_run_cpus`` more
    (its Tune trial), must leave ``workers.data_cpus`` for Ray Data's read tasks.
    """
    w = config.workers
    have = ray.cluster_resources().get("CPU", 0.0)
    need = runs * (w.num_workers * w.cpus_per_worker + per_run_cpus) + w.data_cpus
    if need > have + 1e-9:
        raise ConfigError(
            source,
            f"workers: {runs} × ({w.num_workers} workers × {w.cpus_per_worker} CPU + {per_run_cpus:g}) + "
            f"{w.data_cpus} CPU "
            f"for data reads = {need:g} CPUs, the cluster has {have:g} (lower workers.cpus_per_worker: workers that "
            "take every CPU starve the reads)",
        )
    if w.use_gpu and ray.cluster_resources().get("GPU", 0.0) < runs * w.num_workers:
        raise ConfigError(
            source,
            f"workers: {runs * w.num_workers} GPU workers asked for, the cluster has "
            f"{ray.cluster_resources().get('GPU', 0):g} GPUs",
        )


def run_training(
    config: TrainConfig,
    *,
    source: object,
    resume: bool = False,
    address: str | None = None,
    num_cpus: int | None = None,
    callbacks: Sequence[object] = (),
    parent_run_id: str | None = None,
    progress: bool = True,
) -> RunResult:
    """Train as ``config`` says, on the Ray cluster at ``address`` (or RAY_ADDRESS, or this
    process's connection, or a local instance of ``num_cpus``).

    ``resume`` continues the run of the same ``name`` in ``output`` from its latest
    checkpoint and MLflow run; without it an existing run directory is an error. A sweep passes
    Ray Train ``callbacks`` (e.g. Tune's report callback) and its MLflow ``parent_run_id``.
    ``progress`` shows steps, loss, validation, rate and ETA on stderr (see :mod:`cryoray.train.progress`).
    """
    plan = plan_training(config, source=source)
    storage = _storage(config.output)
    run_dir = f"{storage}/{config.name}"
    fs, run_path = fsspec.core.url_to_fs(run_dir)
    record_path = f"{run_path}/{RUN_RECORD}"
    exists = fs.exists(record_path)
    if exists and not resume:
        raise ConfigError(source, f"name: run {run_dir} exists; pass --resume to continue it, or choose another name")
    if resume and not exists:
        raise ConfigError(source, f"--resume: no run at {run_dir} to resume")
    ensure_ray(address, num_cpus)
    check_cluster(config, source)
    record = json.loads(fs.cat_file(record_path)) if resume else {}
    uri = config.tracking.uri or default_tracking_uri(storage)
    config_dict = config.model_dump(mode="json")
    run_id = open_run(
        uri,
        config.tracking.experiment,
        f"{storage}/mlartifacts",
        config.name,
        flatten(config_dict),
        record.get("mlflow_run_id"),
        parent_run_id,
    )
    tracker = Tracker(uri, run_id)
    if not resume:
        text = yaml.safe_dump(config_dict, sort_keys=False)
        keep_artifact(tracker, run_dir, "config.yaml", lambda path: path.write_text(text))
        record = {"mlflow_run_id": run_id, "tracking_uri": uri}
        write_bytes(f"{run_dir}/{RUN_RECORD}", json.dumps(record, indent=1).encode(), make_dirs=True)
    arrays = ["input", *sorted({t.label for t in config.targets.values()})]
    gan = config.gan_settings()
    if gan is not None:  # an adversarial model: its own loop, two networks
        arrays = gan_arrays(gan)
    embedding = config.data.embedding
    datasets = {
        "train": read_subgrids(
            config.data.store, plan.train_blocks, arrays, augment=config.data.augment, embedding=embedding
        ),
        "val": read_subgrids(config.data.store, plan.val_blocks, arrays, shuffle=False, embedding=embedding),
    }
    w = config.workers
    shown = TrainingProgress(
        plan.total_steps, config.schedule.epochs, ["val/loss", config.checkpoints.metric], enabled=progress
    )
    trainer = TorchTrainer(
        train_loop if gan is None else gan_loop,
        train_loop_config={
            "config": config_dict,
            "class_counts": plan.class_counts,
            "steps_per_epoch": plan.steps_per_epoch,
            "tracking_uri": uri,
            "run_id": run_id,
            "progress": shown.inbox,
            "bundle": {
                "mlflow_run_id": run_id,
                "tracking_uri": uri,
                "store": {key: plan.store.settings[key] for key in ("prepare", "tiling")}
                | {"url": plan.store.url}
                | ({"embedding": plan.store.settings["embedding"]} if embedding else {}),
            },
        },
        scaling_config=ray.train.ScalingConfig(
            num_workers=w.num_workers,
            use_gpu=w.use_gpu,
            resources_per_worker={"CPU": w.cpus_per_worker},
            placement_strategy=w.placement_strategy,
        ),
        run_config=ray.train.RunConfig(
            name=config.name,
            storage_path=storage,
            checkpoint_config=ray.train.CheckpointConfig(
                num_to_keep=config.checkpoints.keep,
                checkpoint_score_attribute=config.checkpoints.metric,
                checkpoint_score_order=config.checkpoints.mode,
            ),
            failure_config=ray.train.FailureConfig(max_failures=config.max_failures),
            callbacks=list(callbacks),
        ),
        datasets=datasets,
    )
    ok = False
    try:
        with shown:
            result = trainer.fit()
        ok = True
    finally:
        _log_curves(tracker, run_dir)
        tracker.finish(ok)
    best = (
        result.get_best_checkpoint(config.checkpoints.metric, config.checkpoints.mode)
        if result.best_checkpoints
        else None
    )
    return RunResult(
        run_dir=run_dir,
        checkpoint=result.checkpoint.path if result.checkpoint else None,
        best_checkpoint=best.path if best else None,
        metrics={k: v for k, v in (result.metrics or {}).items() if isinstance(v, (int, float))},
        tracking_uri=uri,
        mlflow_run_id=run_id,
    )


def _storage(output: str) -> str:
    """Where runs live: an absolute local path (``file://`` stripped), or the remote URL."""
    if is_remote(output):
        return output.rstrip("/")
    return os.path.abspath(fsspec.core.url_to_fs(output)[1])


def keep_artifact(tracker: Tracker, run_dir: str, name: str, draw: Callable[[Path], object]) -> None:
    """Log the file ``draw`` makes as an MLflow artifact and keep it in the run folder (local or remote)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / name
        draw(path)
        tracker.artifact(path)
        write_bytes(f"{run_dir}/{name}", path.read_bytes(), make_dirs=True)


def _log_curves(tracker: Tracker, run_dir: str) -> None:
    """Loss and validation curves as one PNG, logged to MLflow and kept beside the run."""
    keys = ["train/loss", "val/loss"]
    keys += sorted(
        k
        for k in tracker.client.get_run(tracker.run_id).data.metrics
        if k.endswith(("/f1/CA", "/pcc", "/macro_f1", "discriminator/loss"))
    )
    curves = {k: tracker.history(k) for k in keys}
    if any(curves.values()):
        keep_artifact(tracker, run_dir, "curves.png", lambda path: save_curves(path, curves))

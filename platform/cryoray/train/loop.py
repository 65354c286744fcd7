"""The per-worker training loop that Ray Train runs on every data-parallel worker."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import ray.data
import ray.train
import ray.train.torch
import torch

from cryoray.losses import build_loss
from cryoray.models import build_model
from cryoray.train.checkpoints import TrainingState, load_checkpoint, save_checkpoint, unwrap
from cryoray.train.config import TrainConfig
from cryoray.train.evaluate import head_inputs, head_target, network_inputs, validate
from cryoray.train.optim import Schedule, build_optimizer
from cryoray.train.run_log import RunLog
from cryoray.train.targets import is_classification
from cryoray.viz.training import save_sample

__all__ = ["train_loop", "training_batches"]


def _dtypes(labels: dict[str, str], embedding: bool) -> dict[str, torch.dtype]:
    types = {"input": torch.float32, **({"embedding": torch.float32} if embedding else {})}
    types.update({label: torch.int64 if is_classification(label) else torch.float32 for label in labels.values()})
    return types


def _autocast(config: TrainConfig, device: torch.device) -> contextlib.AbstractContextManager:
    wanted = config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda")
    return torch.autocast(device.type, dtype=torch.bfloat16, enabled=wanted)


def training_batches(
    shard: ray.data.DataIterator, config: TrainConfig, dtypes: dict, device: torch.device
) -> Iterator[dict[str, torch.Tensor]]:
    """One epoch of a worker's training shard: shuffled locally, whole batches only."""
    return shard.iter_torch_batches(
        batch_size=config.batch_size,
        dtypes=dtypes,
        device=device,
        local_shuffle_buffer_size=config.data.shuffle_buffer,
        drop_last=True,
    )


def train_loop(loop_config: dict) -> None:
    """Train on this worker's shards; rank 0 logs to MLflow and saves the checkpoints.

    ``loop_config`` holds ``config`` (a :class:`TrainConfig` as a dict), ``class_counts``
    (per head, or None), ``steps_per_epoch``, ``tracking_uri``, ``run_id``, ``progress`` (the
    driver's :class:`~cryoray.train.progress.ProgressInbox`, or None) and ``bundle`` (the run and
    its store's settings, for each checkpoint's ``bundle.json``). Restores from
    the latest checkpoint when Ray Train has one (after a worker failure, or a resumed run);
    an epoch interrupted mid-way is finished with its remaining number of steps, drawn from
    freshly shuffled data, so a run always ends after ``epochs × steps_per_epoch`` steps.
    """
    config = TrainConfig.model_validate(loop_config["config"])
    rank = ray.train.get_context().get_world_rank()
    torch.manual_seed(config.seed)  # same initial weights on every rank
    device = ray.train.torch.get_device()
    model = ray.train.torch.prepare_model(build_model(config.model))
    labels = {head: target.label for head, target in config.targets.items()}
    losses = {h: build_loss(t.loss, loop_config["class_counts"].get(h)).to(device) for h, t in config.targets.items()}
    optimizer = build_optimizer(config.optimizer, model.parameters())
    per_epoch = int(loop_config["steps_per_epoch"])
    schedule = Schedule(config.schedule, optimizer, per_epoch * config.schedule.epochs)
    log = RunLog(loop_config, rank)

    state = TrainingState()
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(Path(folder), model, optimizer, schedule)
        log.restored(state.step)

    autocast = _autocast(config, device)
    dtypes = _dtypes(labels, config.data.embedding)
    train_shard, val_shard = ray.train.get_dataset_shard("train"), ray.train.get_dataset_shard("val")

    def evaluate() -> tuple[dict[str, float], dict | None]:
        batches = val_shard.iter_torch_batches(batch_size=config.batch_size, dtypes=dtypes, device=device)
        return validate(unwrap(model), batches, labels, losses, autocast)

    def checkpoint_now() -> None:
        metrics, sample = evaluate()
        schedule.validated(metrics["val/loss"], state.step)
        metrics.update({"epoch": state.epoch, "step": state.step, "lr": schedule.lr})
        state.metrics = metrics
        with tempfile.TemporaryDirectory() as folder:
            saved = None
            if rank == 0:
                picture = None
                if sample is not None:
                    picture = Path(folder) / f"sample_step{state.step:07d}.png"
                    save_sample(picture, {k: v.numpy() for k, v in sample.items()}, title=f"step {state.step}")
                log.validated(state.step, metrics, picture)
                save_checkpoint(
                    Path(folder) / "checkpoint",
                    model,
                    optimizer,
                    schedule,
                    state,
                    loop_config["config"],
                    training=loop_config.get("bundle"),
                )
                saved = ray.train.Checkpoint.from_directory(str(Path(folder) / "checkpoint"))
            ray.train.report(metrics, checkpoint=saved)

    if checkpoint is None:
        # The untrained model's scores, logged at step 0: the baseline every curve starts from.
        baseline, _ = evaluate()
        log.validated(0, baseline)
    model.train()
    for epoch in range(state.epoch, config.schedule.epochs):
        started, seen = time.perf_counter(), 0
        for batch in training_batches(train_shard, config, dtypes, device):
            x = head_inputs(batch)
            with autocast:
                outputs = model(x, **network_inputs(batch))
            results = {h: losses[h](outputs[h].float(), head_target(batch, labels[h])) for h in labels}
            loss = sum(r.total for r in results.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.grad_clip is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimizer.step()
            state.step += 1
            schedule.step(state.step)
            seen += len(x)
            values = {"train/loss": float(loss.detach()), "lr": schedule.lr}
            for head, result in results.items():
                values.update({f"train/{head}/{term}": float(v) for term, v in result.terms.items()})
            log.step(state.step, epoch + 1, values["train/loss"], values)
            if state.step >= (epoch + 1) * per_epoch:
                break
            if config.schedule.val_every_steps and state.step % config.schedule.val_every_steps == 0:
                checkpoint_now()
        state.epoch = epoch + 1
        log.epoch_done(state.step, seen, time.perf_counter() - started)
        checkpoint_now()
    log.flush()

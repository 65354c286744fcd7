"""The per-worker loop of adversarial runs (struc2mapGAN): a generator and a discriminator, two optimisers.

:func:`cryoray.train.run.run_training` starts it instead of the ordinary loop when the config's
model is a GAN (:data:`~cryoray.train.gan_config.GAN_MODELS`), so ``cryoray train``, ``--resume``
and ``cryoray tune`` drive both the same way. Both networks are data-parallel
(``prepare_model`` each); every step trains the generator, then the discriminator on the same
batch. Checkpoints hold both networks in ``model.safetensors`` (a bundle whose ``forward`` is
the generator), the generator's optimiser and schedule in ``training_state.pt`` and the
discriminator's in ``discriminator_state.pt`` (both loaded with ``weights_only=True``).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import replace
from pathlib import Path

import ray.train
import ray.train.torch
import torch
import torch.distributed as dist

from cryoray.bundle import write_bundle
from cryoray.losses import build_loss
from cryoray.losses.adversarial import discriminator_loss, generator_adversarial_loss
from cryoray.metrics.regression import PearsonAccumulator
from cryoray.models import build_model
from cryoray.train.checkpoints import TrainingState, load_checkpoint, save_checkpoint, training_bundle
from cryoray.train.config import TrainConfig
from cryoray.train.gan_config import GAN_INPUT_LABEL, GANConfig
from cryoray.train.loop import training_batches
from cryoray.train.optim import Schedule, build_optimizer
from cryoray.train.run_log import RunLog
from cryoray.viz.training import save_sample

__all__ = ["DISCRIMINATOR_STATE", "GANBatch", "gan_arrays", "gan_loop", "write_gan_bundle"]

DISCRIMINATOR_STATE = "discriminator_state.pt"


def gan_arrays(gan: GANConfig) -> list[str]:
    """The store arrays a GAN run reads: the experimental map, the simulated one, the target mask."""
    return ["input", GAN_INPUT_LABEL, *([gan.target_mask] if gan.target_mask else [])]


class GANBatch:
    """One batch as the GAN sees it: simulated input ``x`` and masked experimental ``target``, ``(B, 1, D, H, W)``."""

    def __init__(self, batch: dict[str, torch.Tensor], gan: GANConfig) -> None:
        self.x = batch[GAN_INPUT_LABEL].unsqueeze(1).float()
        target = batch["input"].unsqueeze(1).float()
        if gan.target_mask:
            target = target * (batch[gan.target_mask].unsqueeze(1) > 0)
        self.target = target


def _reduced(t: torch.Tensor) -> torch.Tensor:
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        dist.all_reduce(t)
    return t


def gan_loop(loop_config: dict) -> None:
    """Train a GAN on this worker's shards; rank 0 logs to MLflow and saves the checkpoints.

    ``loop_config`` is the ordinary loop's (see :func:`cryoray.train.loop.train_loop`). Logged:
    ``train/loss`` (the generator's total), ``train/output/<term>`` (voxel terms),
    ``train/output/adversarial``, ``train/discriminator/loss``; at each validation the same as
    ``val/...`` plus ``val/output/pcc`` (generated vs target) and ``val/output/pcc_input``
    (simulated vs target: the plain simulation's score), and a sample picture.
    """
    config = TrainConfig.model_validate(loop_config["config"])
    gan = config.gan_settings()
    rank = ray.train.get_context().get_world_rank()
    torch.manual_seed(config.seed)
    device = ray.train.torch.get_device()
    net = build_model(config.model)
    generator = ray.train.torch.prepare_model(net.generator)
    discriminator = ray.train.torch.prepare_model(net.discriminator)
    voxel_loss = build_loss(config.targets["output"].loss).to(device)
    opt_g = build_optimizer(config.optimizer, generator.parameters())
    d_lr = gan.discriminator_lr or config.optimizer.lr
    opt_d = build_optimizer(config.optimizer.model_copy(update={"lr": d_lr}), discriminator.parameters())
    per_epoch = int(loop_config["steps_per_epoch"])
    sched_g = Schedule(config.schedule, opt_g, per_epoch * config.schedule.epochs)
    sched_d = Schedule(config.schedule, opt_d, per_epoch * config.schedule.epochs)
    log = RunLog(loop_config, rank)
    autocast = torch.autocast(
        device.type,
        dtype=torch.bfloat16,
        enabled=config.precision == "bf16" or (config.precision == "auto" and device.type == "cuda"),
    )

    state = TrainingState()
    checkpoint = ray.train.get_checkpoint()
    if checkpoint is not None:
        with checkpoint.as_directory() as folder:
            state = load_checkpoint(Path(folder), net, opt_g, sched_g)
            saved = torch.load(Path(folder) / DISCRIMINATOR_STATE, weights_only=True, map_location="cpu")
            opt_d.load_state_dict(saved["optimizer"])
            sched_d.load_state_dict(saved["scheduler"])
        log.restored(state.step)

    arrays = {name: torch.float32 for name in gan_arrays(gan)}
    train_shard, val_shard = ray.train.get_dataset_shard("train"), ray.train.get_dataset_shard("val")

    def losses(b: GANBatch) -> tuple[torch.Tensor, dict[str, torch.Tensor], torch.Tensor]:
        """Generator total, its terms, and the generated boxes."""
        with autocast:
            fake = generator(net.scale_input(b.x))["output"]
            fake_logits = discriminator(fake)
        voxel = voxel_loss(fake.float(), b.target)
        adversarial = generator_adversarial_loss(fake_logits)
        terms = {**voxel.terms, "adversarial": adversarial.detach()}
        return voxel.total + gan.adversarial_weight * adversarial, terms, fake

    def discriminate(b: GANBatch, fake: torch.Tensor) -> torch.Tensor:
        with autocast:  # one forward of real and generated boxes together (one DDP pass)
            logits = discriminator(torch.cat([b.target, fake.detach().to(b.target.dtype)]))
        return discriminator_loss(logits[: len(b.x)], logits[len(b.x) :])

    @torch.no_grad()
    def evaluate() -> tuple[dict[str, float], dict | None]:
        generator.eval()
        discriminator.eval()
        names = ["loss", "discriminator", *voxel_loss.weights, "adversarial"]
        totals = torch.zeros(1 + len(names), dtype=torch.float64, device=device)
        pcc, pcc_input, sample = PearsonAccumulator(), PearsonAccumulator(), None
        for batch in val_shard.iter_torch_batches(batch_size=config.batch_size, dtypes=arrays, device=device):
            b = GANBatch(batch, gan)
            total, terms, fake = losses(b)
            values = [total, discriminate(b, fake), *(terms[n] for n in names[2:])]
            totals += torch.stack([torch.ones((), device=device), *(v.double() for v in values)])
            pcc.update(fake.float(), b.target)
            pcc_input.update(b.x, b.target)
            if sample is None:
                sample = {
                    "input": b.x[0, 0].cpu(),
                    "prediction": fake[0, 0].float().cpu(),
                    "target": b.target[0, 0].cpu(),
                }
        generator.train()
        discriminator.train()
        _reduced(totals)
        mean = (totals[1:] / max(1.0, float(totals[0]))).tolist()
        metrics = {"val/loss": mean[0], "val/discriminator/loss": mean[1]}
        metrics.update({f"val/output/{n}": v for n, v in zip(names[2:], mean[2:], strict=True)})
        pcc.sums, pcc_input.sums = _reduced(pcc.sums.to(device)), _reduced(pcc_input.sums.to(device))
        metrics.update({"val/output/pcc": pcc.compute(), "val/output/pcc_input": pcc_input.compute()})
        return metrics, sample

    def checkpoint_now() -> None:
        metrics, sample = evaluate()
        sched_g.validated(metrics["val/loss"], state.step)
        sched_d.validated(metrics["val/discriminator/loss"], state.step)
        metrics.update({"epoch": state.epoch, "step": state.step, "lr": sched_g.lr})
        state.metrics = metrics
        with tempfile.TemporaryDirectory() as folder:
            saved = None
            if rank == 0:
                picture = Path(folder) / f"sample_step{state.step:07d}.png"
                save_sample(picture, {k: v.numpy() for k, v in sample.items()}, title=f"step {state.step}")
                log.validated(state.step, metrics, picture)
                saved = _save(Path(folder) / "checkpoint", loop_config, net, (opt_g, sched_g), (opt_d, sched_d), state)
            ray.train.report(metrics, checkpoint=saved)

    if checkpoint is None:
        baseline, _ = evaluate()  # the untrained generator's scores at step 0
        log.validated(0, baseline)
    for epoch in range(state.epoch, config.schedule.epochs):
        started, seen = time.perf_counter(), 0
        for batch in training_batches(train_shard, config, arrays, device):
            b = GANBatch(batch, gan)
            loss_g, terms, fake = losses(b)
            opt_g.zero_grad(set_to_none=True)
            loss_g.backward()
            _clip(generator, config.grad_clip)
            opt_g.step()
            loss_d = discriminate(b, fake)
            opt_d.zero_grad(set_to_none=True)  # also drops what the generator's step left here
            loss_d.backward()
            _clip(discriminator, config.grad_clip)
            opt_d.step()
            state.step += 1
            sched_g.step(state.step)
            sched_d.step(state.step)
            seen += len(b.x)
            values = {"train/loss": float(loss_g.detach()), "train/discriminator/loss": float(loss_d.detach())}
            values.update({f"train/output/{k}": float(v) for k, v in terms.items()})
            log.step(state.step, epoch + 1, values["train/loss"], values | {"lr": sched_g.lr})
            if state.step >= (epoch + 1) * per_epoch:
                break
            if config.schedule.val_every_steps and state.step % config.schedule.val_every_steps == 0:
                checkpoint_now()
        state.epoch = epoch + 1
        log.epoch_done(state.step, seen, time.perf_counter() - started)
        checkpoint_now()
    log.flush()


def _clip(model: torch.nn.Module, grad_clip: float | None) -> None:
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)


def _save(
    directory: Path,
    loop_config: dict,
    net: torch.nn.Module,
    generator: tuple[torch.optim.Optimizer, Schedule],
    discriminator: tuple[torch.optim.Optimizer, Schedule],
    state: TrainingState,
) -> ray.train.Checkpoint:
    """A checkpoint of both networks; its bundle says the input is the simulated map, not normalised."""
    config, training = loop_config["config"], loop_config.get("bundle")
    save_checkpoint(directory, net, *generator, state, config, training=training)
    optimizer, schedule = discriminator
    torch.save(
        {"optimizer": optimizer.state_dict(), "scheduler": schedule.state_dict()}, directory / DISCRIMINATOR_STATE
    )
    write_gan_bundle(directory, net, config, state, training)
    return ray.train.Checkpoint.from_directory(str(directory))


def write_gan_bundle(
    directory: Path, net: torch.nn.Module, config: dict, state: TrainingState, training: dict | None = None
) -> None:
    """(Re)write ``directory``'s ``bundle.json`` as a GAN's: the input is a simulated map, never normalised.

    The rest is the training bundle (:func:`~cryoray.train.checkpoints.training_bundle`): the
    store's grid and tiling, whose percentile is the one the experimental targets were normalised at.
    """
    bundle = training_bundle(net, config, state, training)
    write_bundle(directory, replace(bundle, preprocessing=replace(bundle.preprocessing, normalize=False)))

"""The settings a struc2mapGAN run adds to a training config (its ``gan`` section)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal

from pydantic import Field, PositiveFloat

from cryoray.config import Section

__all__ = ["GAN_INPUT_LABEL", "GAN_MODELS", "GANConfig", "check_gan_settings"]

#: model names trained adversarially (by :func:`cryoray.train.gan.gan_loop`)
GAN_MODELS = ("struc2mapgan",)
#: the store label a GAN's generator takes as input (its target is the experimental ``input`` map)
GAN_INPUT_LABEL = "simulated"


class GANConfig(Section):
    """Adversarial training: generator loss ``L_G = L_voxel + adversarial_weight · L_adv``.

    ``L_voxel`` is the head's ``targets.output.loss`` (struc2mapGAN: ``smooth_l1``); ``L_adv`` the
    binary cross-entropy of the discriminator's logits on generated boxes against "real"; the
    discriminator minimises the mean of its cross-entropies on experimental and generated boxes.
    Each step trains the generator first, then the discriminator (as struc2mapGAN does).

    Args:
        adversarial_weight: α, the weight of ``L_adv``; 0.001 is struc2mapGAN's released
            training default (the paper writes the sum with α and gives no number).
        discriminator_lr: the discriminator's learning rate; None: ``optimizer.lr``. Its optimiser
            is ``optimizer.name`` with the same schedule.
        target_mask: store label whose non-zero voxels keep the experimental target (the rest
            becomes 0), as struc2mapGAN masks its targets around the model's atoms:
            ``denoise_class`` (within the store's ``denoise_radius``, 6 Å by default, of an atom)
            or ``molecule_mask``; None keeps the whole box.
    """

    adversarial_weight: float = Field(1e-3, ge=0.0, allow_inf_nan=False)
    discriminator_lr: PositiveFloat | None = None
    target_mask: Literal["denoise_class", "molecule_mask"] | None = "denoise_class"


def check_gan_settings(model_name: str, gan: GANConfig | None, labels: Mapping[str, str]) -> GANConfig | None:
    """The GAN settings of a run of ``model_name`` whose heads learn ``labels`` (head → label); None if not a GAN.

    Raises:
        ValueError: a ``gan`` section for another model, or a GAN whose one head does not name
            the ``simulated`` label (its generator's input).
    """
    if model_name not in GAN_MODELS:
        if gan is not None:
            raise ValueError(f"gan: settings for adversarial models ({', '.join(GAN_MODELS)}), not {model_name}")
        return None
    if dict(labels) != {"output": GAN_INPUT_LABEL}:
        raise ValueError(
            f"targets: a {model_name} run has one head, output, with label {GAN_INPUT_LABEL} (the generator's "
            f"input; the target is the store's experimental input map), got {dict(labels)}"
        )
    return gan or GANConfig()

"""The adversarial losses of a GAN whose discriminator returns one logit per box (struc2mapGAN's)."""

from __future__ import annotations

import torch
from torch.nn import functional

__all__ = ["discriminator_loss", "generator_adversarial_loss"]


def _bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    if logits.ndim != 2 or logits.shape[1] != 1:
        raise ValueError(f"discriminator logits must be (B, 1), got {tuple(logits.shape)}")
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return functional.binary_cross_entropy_with_logits(logits.float(), target)


def generator_adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy of the discriminator's logits on generated boxes against "real".

    Low when the discriminator takes the generated boxes for experimental ones (the generator's
    goal). Raises ValueError for logits that are not ``(B, 1)``.
    """
    return _bce(fake_logits, real=True)


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Mean of the binary cross-entropies on experimental boxes (as "real") and generated ones (as "fake").

    Example::

        >>> float(discriminator_loss(torch.full((2, 1), 20.0), torch.full((2, 1), -20.0))) < 1e-6
        True
    """
    return (_bce(real_logits, real=True) + _bce(fake_logits, real=False)) / 2

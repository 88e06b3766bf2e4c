"""The reconstruction error of autoencoder decoders (DCCAE, Corr-AE and its variants)."""

from __future__ import annotations

import torch

from .base import LOSSES, Batch, Loss


@LOSSES.register("reconstruction")
class ReconstructionLoss(Loss):
    """sum over decoders (source -> target) of ||decode(representation of source) - input of
    target||^2, summed over features, averaged over the batch's items; with `scale: variance`
    each decoder's error is divided by the target's total variance over the batch (the trace of
    its covariance, floored at 1e-12). A bimodal autoencoder's decoders (`any_to_<target>`)
    reconstruct from the image-only, text-only and joint codes, the three terms summed."""

    def compute_loss(self, out, batch: Batch, model) -> torch.Tensor:
        if getattr(model, "decoders", None) is None:
            raise ValueError("loss 'reconstruction' needs architecture.decoders")
        total = 0.0
        for name, decoder in model.decoders.items():
            src, _, tgt = name.partition("_to_")
            x = out.get(f"input_{tgt}")
            if not isinstance(x, torch.Tensor):
                raise ValueError(f"loss 'reconstruction': no {tgt} input features in this batch's "
                                 "outputs; decoders need whole-item features and the model's "
                                 "full forward pass")
            x = x.to(out["image"].dtype)
            scale = (x.var(0, unbiased=False).sum().clamp_min(1e-12)
                     if self.params.scale == "variance" else 1.0)
            for code in (("image", "text", "joint") if src == "any" else (src,)):
                total = total + (decoder(out[code]) - x).pow(2).sum() / len(x) / scale
        return total

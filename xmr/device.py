"""Device choice: the same code runs on CUDA when present and on the CPU otherwise."""

from __future__ import annotations


def resolve_device(choice: str = "auto"):
    import torch

    if choice == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("device 'cuda' was asked for, but torch sees no CUDA device; "
                           "use device: auto or cpu")
    if choice == "auto":
        choice = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(choice)

"""Faster CPU inference for a loaded model, same weights: the number format
(:func:`resolve_precision`, :func:`int8`) and oneDNN-packed linear layers
(:func:`pack_linears`). Moved out of ``listening.sentiment`` unchanged; torch is imported
lazily, where it is used."""

from __future__ import annotations

import functools
from typing import Any

from listening.spec import ModelError

PRECISIONS = ("auto", "float32", "bfloat16", "int8")


def resolve_precision(precision: str) -> str:
    """``auto``: bfloat16 where the CPU computes it natively (AVX512-BF16 or AMX: about
    3x faster than float32 here, the same labels on the validation texts), else float32."""
    import torch
    if precision not in PRECISIONS:
        raise ModelError(f"precision must be one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    return "bfloat16" if torch.ops.mkldnn._is_mkldnn_bf16_supported() else "float32"


def int8(model: Any) -> Any:
    """The linear layers' weights in int8, activations quantized on the fly (torch's
    dynamic quantization): about 4x faster on a CPU core, measured here on the shop
    languages; the labels differ from full precision on a few borderline texts."""
    import warnings

    import torch
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization's deprecation notice
        return torch.ao.quantization.quantize_dynamic(model, {torch.nn.Linear},  # type: ignore[no-untyped-call]
                                                      dtype=torch.qint8)


@functools.cache
def packed_linear() -> type:
    """The class ``PackedLinear`` (made on first use: torch is imported lazily here).

    An ``nn.Linear`` run by oneDNN with its weight reordered once, at load, into the
    layout oneDNN's matrix multiply reads, and optionally an exact GELU applied in the
    same kernel (``torch.ops.mkldnn._linear_pointwise``, what torch's own compiler emits
    for CPU linear layers). A plain linear layer reorders its weight on every call, and a
    separate GELU reads and writes the whole output once more."""
    import torch

    class PackedLinear(torch.nn.Module):
        def __init__(self, linear: torch.nn.Linear, activation: str = "none") -> None:
            super().__init__()
            # plain attributes: oneDNN's own layout is not a tensor to save or move
            self.packed = torch.ops.mkldnn._reorder_linear_weight(linear.weight.detach(),
                                                                  None)
            self.bias = None if linear.bias is None else linear.bias.detach()
            self.activation = activation  # "none", or "gelu" (exact: erf)
            self.algorithm = "none" if activation == "gelu" else ""
            self.in_features, self.out_features = linear.in_features, linear.out_features

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            y: torch.Tensor = torch.ops.mkldnn._linear_pointwise(
                x, self.packed, self.bias, self.activation, [], self.algorithm)
            return y

        def extra_repr(self) -> str:
            return (f"in_features={self.in_features}, out_features={self.out_features}, "
                    f"activation={self.activation}")

    return PackedLinear


def pack_linears(model: Any) -> int:
    """Every linear layer of ``model`` as a ``PackedLinear`` (:func:`packed_linear`), in
    place, and an exact GELU that follows one (a BERT-family block's ``dense`` then
    ``intermediate_act_fn``) folded into it. Same weights, same arithmetic up to
    rounding: the built-in model keeps its labels and validation F1. Measured here
    (docs/benchmarks.md): one text at a time 15-20% faster, batches 5-20% faster, and
    the server's scoring lag at 100 messages/s fell from p99 1.3-1.7 s to 0.3-0.5 s.
    Returns how many layers were packed; 0 where torch has no oneDNN (the model is left
    as it was)."""
    import torch
    from transformers.activations import GELUActivation
    if not torch.backends.mkldnn.is_available():  # type: ignore[no-untyped-call]
        return 0
    packed = 0
    # oneDNN packs bfloat16 weights only where the CPU has the instructions for them
    # (AVX512-BF16, AVX-NE-CONVERT or AVX512 BW/VL/DQ); elsewhere those layers stay plain
    kinds = (torch.float32, torch.bfloat16) if torch.ops.mkldnn._is_mkldnn_bf16_supported() \
        else (torch.float32,)
    for parent in list(model.modules()):
        act = getattr(parent, "intermediate_act_fn", None)
        gelu = isinstance(act, GELUActivation) and act.act is torch.nn.functional.gelu
        for name, child in list(parent.named_children()):
            if type(child) is not torch.nn.Linear or child.weight.dtype not in kinds:
                continue
            fold = gelu and name == "dense"
            setattr(parent, name, packed_linear()(child, "gelu" if fold else "none"))
            packed += 1
            if fold:
                parent.intermediate_act_fn = torch.nn.Identity()
    return packed

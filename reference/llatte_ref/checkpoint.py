"""Writing and reading checkpoint directories: config.json, model.safetensors, selftest.json."""
from __future__ import annotations

import hashlib
import json
import os

import torch
from safetensors.torch import load_file, save_file

from .config import ModelConfig, tensor_shapes
from .model import LLaTTE

DTYPES = {"f32": torch.float32, "f16": torch.float16, "bf16": torch.bfloat16}


def round_to_dtype(model: LLaTTE, dtype: str) -> None:
    """Rounds every weight to the storage dtype in place, so expected outputs use the stored values."""
    with torch.no_grad():
        for name in model.names:
            p = model.tensor(name)
            p.copy_(p.to(DTYPES[dtype]).to(torch.float32))


def save(model: LLaTTE, out_dir: str, dtype: str = "f32") -> None:
    """config.json + model.safetensors (tensors in the checkpoint's table order)."""
    os.makedirs(out_dir, exist_ok=True)
    round_to_dtype(model, dtype)
    with open(os.path.join(out_dir, "config.json"), "w") as fh:
        fh.write(model.cfg.dumps())
    tensors = {name: model.tensor(name).detach().to(DTYPES[dtype]).contiguous() for name in model.names}
    save_file(tensors, os.path.join(out_dir, "model.safetensors"), metadata={"format": "llatte-checkpoint-v1"})


def load(ckpt_dir: str) -> LLaTTE:
    cfg = ModelConfig.load(os.path.join(ckpt_dir, "config.json"))
    model = LLaTTE(cfg)
    tensors = load_file(os.path.join(ckpt_dir, "model.safetensors"))
    shapes = tensor_shapes(cfg)
    if set(tensors) != set(shapes):
        raise ValueError(f"tensor names differ: missing {set(shapes) - set(tensors)}, extra {set(tensors) - set(shapes)}")
    with torch.no_grad():
        for name, shape in shapes.items():
            if tuple(tensors[name].shape) != shape:
                raise ValueError(f"{name}: shape {tuple(tensors[name].shape)}, expected {shape}")
            model.tensor(name).copy_(tensors[name].to(torch.float32))
    return model


def identity(ckpt_dir: str) -> str:
    """sha256 of config.json followed by model.safetensors."""
    h = hashlib.sha256()
    for name in ("config.json", "model.safetensors"):
        with open(os.path.join(ckpt_dir, name), "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()

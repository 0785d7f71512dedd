"""The candidate-item tower of the training objective and the user-item score.

The tower is the stand-in for the online ranker's item side: it is trained jointly with the encoder
and used to evaluate embeddings, but it is not part of the exported checkpoint.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .tokenizer import fmix


class ItemTower(nn.Module):
    """Item -> D: the catalog's semantic vector (or a learned missing vector) plus a hashed-id embedding."""

    def __init__(self, d_sem: int, dim: int, buckets: int = 4096, hidden: int = 64):
        super().__init__()
        self.buckets = buckets
        self.sem_in = nn.Linear(d_sem, hidden, bias=True)
        self.sem_missing = nn.Parameter(torch.zeros(d_sem))
        self.id_emb = nn.Embedding(buckets, hidden)
        nn.init.normal_(self.id_emb.weight, 0.0, 0.02)
        self.out = nn.Linear(hidden, dim, bias=True)
        self.skip = nn.Linear(d_sem, dim, bias=False)  # a linear path keeps category directions easy to reach

    def id_bucket(self, item_ids: np.ndarray) -> torch.Tensor:
        """fmix(id) mod buckets, with the same hash as the encoder's item table."""
        return torch.tensor([fmix(int(i)) % self.buckets for i in item_ids], dtype=torch.long)

    def forward(self, sem: torch.Tensor, missing: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """sem [N, d_sem], missing [N] bool, ids [N] bucket indices -> [N, D]."""
        s = torch.where(missing[:, None], self.sem_missing[None], sem)
        h = F.silu(self.sem_in(s) + self.id_emb(ids))
        return self.out(h) + self.skip(s)


def tower_flops(tower: ItemTower, interests: int) -> int:
    """FLOPs of one target impression: the tower's three matmuls (2·m·n·k) and the K dot products of the score."""
    d_sem, hidden, dim = tower.sem_in.in_features, tower.sem_in.out_features, tower.out.out_features
    return 2 * (d_sem * hidden + hidden * dim + d_sem * dim) + 2 * interests * dim


def score(z: torch.Tensor, t: torch.Tensor, mode: str) -> torch.Tensor:
    """z [N, K, D] (each impression's user), t [N, D] -> [N]: max_k <z_k, t> or its softmax-weighted mean."""
    dots = torch.einsum("nkd,nd->nk", z, t)
    if mode == "max":
        return dots.max(dim=1).values
    if mode == "softmax":
        return (torch.softmax(dots, dim=1) * dots).sum(dim=1)
    raise ValueError(f"score mode {mode!r}")

"""The LLaTTE offline encoder of docs/checkpoint.md as a PyTorch module.

Parameter names (its state_dict keys) are the checkpoint's tensor names; config.tensor_shapes
lists them with their shapes. Linear weights are [out, in] and applied as x @ W.T; no biases.
"""
from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .config import ModelConfig, tensor_shapes
from .tokenizer import Tokens

EPS = 1e-6


def rms_norm(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """x / sqrt(mean(x^2) + 1e-6) * g over the last axis."""
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + EPS) * g


class Batch:
    """Tokens of several users padded to one length: [seq (padded to n) | Q query tokens] per user."""

    def __init__(self, users: list[Tokens], cfg: ModelConfig, dtype=torch.float32):
        b = len(users)
        n = max([u.n for u in users] + [0])
        self.n = n
        self.lengths = torch.tensor([u.n for u in users], dtype=torch.long)
        self.item = torch.zeros(b, n, dtype=torch.long)
        self.type = torch.zeros(b, n, dtype=torch.long)
        self.surface = torch.zeros(b, n, dtype=torch.long)
        self.time = torch.zeros(b, n, dtype=torch.long)
        self.sem = torch.zeros(b, n, cfg.d_sem, dtype=dtype)
        self.sem_missing = torch.zeros(b, n, dtype=torch.bool)
        self.meta = torch.zeros(b, n, 2, dtype=dtype)
        self.f = torch.zeros(b, cfg.d_f, dtype=dtype)
        for i, u in enumerate(users):
            k = u.n
            self.item[i, :k] = torch.from_numpy(u.item_bucket)
            self.type[i, :k] = torch.from_numpy(u.type_index)
            self.surface[i, :k] = torch.from_numpy(u.surface_index)
            self.time[i, :k] = torch.from_numpy(u.time_bucket)
            self.sem[i, :k] = torch.from_numpy(u.sem).to(dtype)
            self.sem_missing[i, :k] = torch.from_numpy(u.sem_missing)
            self.meta[i, :k] = torch.from_numpy(u.meta).to(dtype)
            self.f[i] = torch.from_numpy(u.f).to(dtype)

    def attention_mask(self, q: int) -> torch.Tensor:
        """[B, n+Q, n+Q] bool, True = may attend. Sequence rows see the user's valid sequence
        tokens; query rows see those and every query token. A padded row sees only itself, so
        its softmax stays finite; no valid row ever sees a padded one."""
        n = self.n
        t = n + q
        pos = torch.arange(t)
        valid_key = (pos[None, :] < self.lengths[:, None]) | (pos[None, :] >= n)   # [B, T]
        is_query_row = pos >= n                                                   # [T]
        key_is_seq = pos < n
        allowed = valid_key[:, None, :] & (is_query_row[None, :, None] | key_is_seq[None, None, :])
        row_padded = (pos[None, :] < n) & (pos[None, :] >= self.lengths[:, None])  # [B, T]
        eye = torch.eye(t, dtype=torch.bool)[None]
        return torch.where(row_padded[:, :, None], eye, allowed)


class LLaTTE(nn.Module):
    """Target-agnostic user encoder: event tokens + query tokens -> K interest vectors of D."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.cfg = cfg
        self.names = list(tensor_shapes(cfg).keys())
        for name, shape in tensor_shapes(cfg).items():
            self._register(name, nn.Parameter(torch.zeros(shape)))
        self.reset_parameters()

    def _register(self, name: str, p: nn.Parameter) -> None:
        # Dots are not allowed in parameter names; nest plain modules so state_dict keys keep them.
        parts = name.split(".")
        mod: nn.Module = self
        for part in parts[:-1]:
            if not hasattr(mod, part):
                mod.add_module(part, nn.Module())
            mod = getattr(mod, part)
        mod.register_parameter(parts[-1], p)

    def tensor(self, name: str) -> torch.Tensor:
        return self.get_parameter(name)

    @torch.no_grad()
    def reset_parameters(self, generator: torch.Generator | None = None) -> None:
        """Random initialization: gains 1, linears ~ N(0, 1/in), embeddings ~ N(0, 0.02^2)."""
        for name in self.names:
            p = self.tensor(name)
            if name.endswith("norm"):
                p.fill_(1.0)
            elif name.startswith("embed.") and name not in ("embed.sem", "embed.meta"):
                p.normal_(0.0, 0.02, generator=generator)
            elif name == "query.pos":
                p.normal_(0.0, 0.02, generator=generator)
            else:
                p.normal_(0.0, 1.0 / math.sqrt(p.shape[-1]), generator=generator)

    def sequence_tokens(self, b: Batch) -> torch.Tensor:
        """x_t = E_item + E_type + E_surface + E_time + s_t W_sem^T + m_t W_meta^T  -> [B, n, d]."""
        t = self.tensor
        sem = torch.where(b.sem_missing[..., None], t("embed.sem_missing").to(b.sem.dtype), b.sem)
        return (t("embed.item")[b.item] + t("embed.event_type")[b.type] + t("embed.surface")[b.surface]
                + t("embed.time")[b.time] + sem @ t("embed.sem").T + b.meta @ t("embed.meta").T)

    def query_tokens(self, b: Batch) -> torch.Tensor:
        """q_i = P_i + f W_user^T  -> [B, Q, d]."""
        t = self.tensor
        return t("query.pos")[None] + (b.f @ t("query.user").T)[:, None, :]

    def mla(self, l: int, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Multi-head latent attention without RoPE: [B, T, d] -> [B, T, d]."""
        c = self.cfg
        t = lambda name: self.tensor(f"layers.{l}.attn.{name}")
        bsz, tt, _ = x.shape
        c_q = rms_norm(x @ t("w_dq").T, t("q_norm"))
        q = c_q @ t("w_uq").T
        c_kv = rms_norm(x @ t("w_dkv").T, t("kv_norm"))
        k = c_kv @ t("w_uk").T
        v = c_kv @ t("w_uv").T
        split = lambda y: y.view(bsz, tt, c.heads, c.d_head).transpose(1, 2)  # [B, H, T, d_head]
        o = F.scaled_dot_product_attention(split(q), split(k), split(v), attn_mask=mask[:, None])
        o = o.transpose(1, 2).reshape(bsz, tt, c.heads * c.d_head)
        return o @ t("w_o").T

    def mlp(self, l: int, h: torch.Tensor) -> torch.Tensor:
        t = lambda name: self.tensor(f"layers.{l}.{name}")
        y = rms_norm(h, t("mlp_norm"))
        return (F.silu(y @ t("mlp.w_gate").T) * (y @ t("mlp.w_up").T)) @ t("mlp.w_down").T

    def forward(self, b: Batch) -> torch.Tensor:
        """-> z [B, K, D]."""
        c = self.cfg
        x = torch.cat([self.sequence_tokens(b), self.query_tokens(b)], dim=1)
        mask = b.attention_mask(c.query_tokens)
        for l in range(c.layers):
            h = x + self.mla(l, rms_norm(x, self.tensor(f"layers.{l}.attn_norm")), mask)
            x = h + self.mlp(l, h)
        qrows = rms_norm(x[:, b.n:, :], self.tensor("final_norm"))     # [B, Q, d]
        flat = qrows.reshape(qrows.shape[0], c.query_tokens * c.d)
        t = self.tensor
        hidden = F.silu(flat @ t("head.a1").T @ t("head.b1").T)
        z = hidden @ t("head.a2").T @ t("head.b2").T
        return z.view(-1, c.interests, c.interest_dim)


def quantize(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per interest vector (f32): scale = max|z|/127, codes = clamp(roundHalfEven(z/scale), -127, 127);
    all-zero (or underflowing) vectors get scale 0 and codes 0. z: [K, D] -> (codes int8 [K, D], scales f32 [K])."""
    z = z.astype(np.float32)
    if not np.all(np.isfinite(z)):
        raise ValueError("non-finite embedding")
    scales = (np.abs(z).max(axis=1) / np.float32(127)).astype(np.float32)
    codes = np.zeros(z.shape, dtype=np.int8)
    for k in range(z.shape[0]):
        if scales[k] == 0:
            continue
        codes[k] = np.clip(np.rint(z[k] / scales[k]), -127, 127).astype(np.int8)
    return codes, scales


def forward_flops(cfg: ModelConfig, n: int) -> int:
    """Multiply-add FLOPs (2·m·n·k per matmul) of one user's forward pass with n sequence tokens.

    With T = n + Q tokens, hd = heads·d_head and every product counted at 2 FLOPs per multiply-add:
      inputs      2·n·d·(d_sem + 2) + 2·d_f·d                       (semantic and metadata projections, W_user)
      per layer   2·T·(d·r_q + r_q·hd + d·r_kv + 2·r_kv·hd + hd·d)   (MLA projections)
                + 2·2·T²·hd                                          (scores Q·K^T and weights·V)
                + 2·T·3·d·ffn                                        (gated MLP)
      head        2·(Q·d·rank + rank·hidden + hidden·rank + rank·K·D)
    Embedding look-ups, norms, activations and softmax are left out (linear in T·d, small beside the
    matmuls). Attention is counted over the unpadded T×T, as llatte runs it one user at a time.
    """
    c = cfg
    t = n + c.query_tokens
    hd = c.heads * c.d_head
    inputs = 2 * n * c.d * (c.d_sem + 2) + 2 * c.d_f * c.d
    proj = 2 * t * (c.d * c.r_q + c.r_q * hd + c.d * c.r_kv + 2 * c.r_kv * hd + hd * c.d)
    attn = 2 * 2 * t * t * hd
    mlp = 2 * t * 3 * c.d * c.ffn
    head = 2 * (c.query_tokens * c.d * c.lora_rank + 2 * c.lora_rank * c.lora_hidden
                + c.lora_rank * c.interests * c.interest_dim)
    return inputs + c.layers * (proj + attn + mlp) + head

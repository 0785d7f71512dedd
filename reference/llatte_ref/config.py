"""The checkpoint's config.json: sizes, vocabularies, feature definitions, identity fields."""
from __future__ import annotations

import dataclasses
import json
from typing import Any

FORMAT = "llatte-checkpoint-v1"


@dataclasses.dataclass
class Feature:
    """One user feature the model reads: categorical (with its vocabulary) or dense."""
    name: str
    kind: str  # "categorical" | "dense"
    vocab: list[str] = dataclasses.field(default_factory=list)

    def width(self) -> int:
        return 1 + len(self.vocab) if self.kind == "categorical" else 1


@dataclasses.dataclass
class ModelConfig:
    """Every size of docs/checkpoint.md, plus the vocabularies and the semantic model."""
    model_version: str
    semantic_model: str
    d: int
    layers: int
    heads: int
    d_head: int
    r_q: int
    r_kv: int
    ffn: int
    query_tokens: int
    interests: int
    interest_dim: int
    d_sem: int
    item_buckets: int
    n_time: int
    lora_rank: int
    lora_hidden: int
    n_max: int
    types: list[str]
    surfaces: list[str]
    features: list[Feature]

    @property
    def d_f(self) -> int:
        """Width of the user vector f: features in order, then 24 hour and 7 weekday slots."""
        return sum(f.width() for f in self.features) + 24 + 7

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"format": FORMAT}
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "features":
                value = [{"name": f.name, "kind": f.kind, **({"vocab": f.vocab} if f.kind == "categorical" else {})}
                         for f in value]
            out[field.name] = value
        return out

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2) + "\n"

    @staticmethod
    def from_json(obj: dict[str, Any]) -> "ModelConfig":
        if obj.get("format") != FORMAT:
            raise ValueError(f"config format {obj.get('format')!r}, expected {FORMAT!r}")
        kwargs = {k: v for k, v in obj.items() if k != "format"}
        kwargs["features"] = [Feature(f["name"], f["kind"], list(f.get("vocab", []))) for f in obj["features"]]
        return ModelConfig(**kwargs)

    @staticmethod
    def load(path: str) -> "ModelConfig":
        with open(path, "rb") as fh:
            return ModelConfig.from_json(json.loads(fh.read()))


def tensor_shapes(c: ModelConfig) -> dict[str, tuple[int, ...]]:
    """The checkpoint's tensor table: every name and shape (docs/checkpoint.md lists the same)."""
    hd = c.heads * c.d_head
    shapes: dict[str, tuple[int, ...]] = {
        "embed.item": (c.item_buckets, c.d),
        "embed.event_type": (1 + len(c.types), c.d),
        "embed.surface": (1 + len(c.surfaces), c.d),
        "embed.time": (c.n_time, c.d),
        "embed.sem": (c.d, c.d_sem),
        "embed.sem_missing": (c.d_sem,),
        "embed.meta": (c.d, 2),
        "query.pos": (c.query_tokens, c.d),
        "query.user": (c.d, c.d_f),
    }
    for l in range(c.layers):
        p = f"layers.{l}."
        shapes.update({
            p + "attn_norm": (c.d,),
            p + "attn.w_dq": (c.r_q, c.d),
            p + "attn.q_norm": (c.r_q,),
            p + "attn.w_uq": (hd, c.r_q),
            p + "attn.w_dkv": (c.r_kv, c.d),
            p + "attn.kv_norm": (c.r_kv,),
            p + "attn.w_uk": (hd, c.r_kv),
            p + "attn.w_uv": (hd, c.r_kv),
            p + "attn.w_o": (c.d, hd),
            p + "mlp_norm": (c.d,),
            p + "mlp.w_gate": (c.ffn, c.d),
            p + "mlp.w_up": (c.ffn, c.d),
            p + "mlp.w_down": (c.d, c.ffn),
        })
    shapes.update({
        "final_norm": (c.d,),
        "head.a1": (c.lora_rank, c.query_tokens * c.d),
        "head.b1": (c.lora_hidden, c.lora_rank),
        "head.a2": (c.lora_rank, c.lora_hidden),
        "head.b2": (c.interests * c.interest_dim, c.lora_rank),
    })
    return shapes

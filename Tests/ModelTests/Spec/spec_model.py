#!/usr/bin/env python3
"""A d = 2, L = 1 llatte model worked out in float64 straight from docs/checkpoint.md's formulas.

Plain Python only (no PyTorch, no NumPy, not the reference module): it writes a checkpoint
(config.json, model.safetensors with F32 weights that are exact binary fractions) and a case set
(selftest.json) whose expected embeddings come from the formulas below. The Swift spec test loads
both; the engine's own output never feeds back into them.

    python3 Tests/ModelTests/Spec/spec_model.py Tests/ModelTests/Spec/model
"""
import json
import math
import os
import struct
import sys

M64 = (1 << 64) - 1
CFG = {
    "format": "llatte-checkpoint-v1", "model_version": "spec-d2", "semantic_model": "spec-sem",
    "d": 2, "layers": 1, "heads": 1, "d_head": 2, "r_q": 2, "r_kv": 2, "ffn": 3, "query_tokens": 2,
    "interests": 1, "interest_dim": 2, "d_sem": 2, "item_buckets": 4, "n_time": 4, "lora_rank": 1,
    "lora_hidden": 2, "n_max": 3, "types": ["click"], "surfaces": ["feed"],
    "features": [{"name": "tier", "kind": "categorical", "vocab": ["gold"]}, {"name": "age", "kind": "dense"}],
}
D_F = 2 + 1 + 24 + 7


def w(name, shape, seed):
    """Deterministic weights k/32 in [-1, 1): exact in float32."""
    n = 1
    for s in shape:
        n *= s
    vals = [((seed * 37 + i * 11) % 64 - 32) / 32.0 for i in range(n)]
    return name, shape, vals


def weights():
    return [
        w("embed.item", [4, 2], 1), w("embed.event_type", [2, 2], 2), w("embed.surface", [2, 2], 3),
        w("embed.time", [4, 2], 4), w("embed.sem", [2, 2], 5), w("embed.sem_missing", [2], 6),
        w("embed.meta", [2, 2], 7), w("query.pos", [2, 2], 8), w("query.user", [2, D_F], 9),
        ("layers.0.attn_norm", [2], [1.25, 0.75]), w("layers.0.attn.w_dq", [2, 2], 10),
        ("layers.0.attn.q_norm", [2], [0.5, 1.5]), w("layers.0.attn.w_uq", [2, 2], 11),
        w("layers.0.attn.w_dkv", [2, 2], 12), ("layers.0.attn.kv_norm", [2], [1.0, 0.875]),
        w("layers.0.attn.w_uk", [2, 2], 13), w("layers.0.attn.w_uv", [2, 2], 14), w("layers.0.attn.w_o", [2, 2], 15),
        ("layers.0.mlp_norm", [2], [0.625, 1.125]), w("layers.0.mlp.w_gate", [3, 2], 16),
        w("layers.0.mlp.w_up", [3, 2], 17), w("layers.0.mlp.w_down", [2, 3], 18),
        ("final_norm", [2], [1.0, 1.25]), w("head.a1", [1, 4], 19), w("head.b1", [2, 1], 20),
        w("head.a2", [1, 2], 21), w("head.b2", [2, 1], 22),
    ]


# ---- the formulas, float64 ----
def fmix(z):
    z ^= z >> 30; z = (z * 0xBF58476D1CE4E5B9) & M64
    z ^= z >> 27; z = (z * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def matvec(W, x):  # y = x·Wᵀ for W [out, in]
    return [sum(wr[j] * x[j] for j in range(len(x))) for wr in W]


def rms(x, g):
    s = math.sqrt(sum(v * v for v in x) / len(x) + 1e-6)
    return [x[j] / s * g[j] for j in range(len(x))]


def silu(v):
    return v / (1 + math.exp(-v))


def f32(v):
    return struct.unpack("<f", struct.pack("<f", v))[0]


def encode(W, events, feats):
    d = 2
    rows = lambda name: [W[name][1][i * W[name][0][1]:(i + 1) * W[name][0][1]] for i in range(W[name][0][0])]
    vec = lambda name: W[name][1]
    # History order: by ts, integer ids before strings, then by value / UTF-8 bytes; latest n_max.
    events = sorted(events, key=lambda e: (e["ts"], 0 if isinstance(e["event_id"], int) else 1,
                                           e["event_id"] if isinstance(e["event_id"], int) else 0,
                                           e["event_id"].encode() if isinstance(e["event_id"], str) else b""))
    as_of = events[-1]["ts"] if events else None
    seq = events[-CFG["n_max"]:]
    catalog = {101: [0.25, -0.5]}
    x = []
    for e in seq:
        b = fmix(e["item_id"]) % 4
        ty = 1 if e["type"] == "click" else 0
        su = 1 if e["surface"] == "feed" else 0
        tb = min(max(as_of - e["ts"], 0).bit_length(), 3)
        s = catalog.get(e["item_id"], vec("embed.sem_missing"))
        m = [f32(math.log1p(e.get("dwell_ms") or 0.0)), f32(math.log1p(e.get("value") or 0.0))]
        sw, mw = matvec(rows("embed.sem"), s), matvec(rows("embed.meta"), m)
        x.append([rows("embed.item")[b][j] + rows("embed.event_type")[ty][j] + rows("embed.surface")[su][j]
                  + rows("embed.time")[tb][j] + sw[j] + mw[j] for j in range(d)])
    f = [0.0] * D_F
    f[1 if feats.get("tier") == "gold" else 0] = 1.0
    f[2] = float(feats.get("age") or 0.0)
    if as_of is not None:
        f[3 + (as_of // 3600) % 24] = 1.0
        f[3 + 24 + (as_of // 86400 + 3) % 7] = 1.0
    fw = matvec(rows("query.user"), f)
    n = len(x)
    x += [[rows("query.pos")[i][j] + fw[j] for j in range(d)] for i in range(2)]
    # One layer, one head of width 2.
    xn = [rms(r, vec("layers.0.attn_norm")) for r in x]
    q = [matvec(rows("layers.0.attn.w_uq"), rms(matvec(rows("layers.0.attn.w_dq"), r), vec("layers.0.attn.q_norm"))) for r in xn]
    ckv = [rms(matvec(rows("layers.0.attn.w_dkv"), r), vec("layers.0.attn.kv_norm")) for r in xn]
    k = [matvec(rows("layers.0.attn.w_uk"), c) for c in ckv]
    v = [matvec(rows("layers.0.attn.w_uv"), c) for c in ckv]
    out = []
    for i in range(len(x)):
        keys = range(n) if i < n else range(len(x))   # sequence rows see sequence keys; query rows see all
        sc = [sum(q[i][j] * k[t][j] for j in range(2)) / math.sqrt(2) for t in keys]
        mx = max(sc)
        ex = [math.exp(s - mx) for s in sc]
        p = [e / sum(ex) for e in ex]
        o = [sum(p[a] * v[t][j] for a, t in enumerate(keys)) for j in range(2)]
        h = [x[i][j] + matvec(rows("layers.0.attn.w_o"), o)[j] for j in range(2)]
        y = rms(h, vec("layers.0.mlp_norm"))
        g, u = matvec(rows("layers.0.mlp.w_gate"), y), matvec(rows("layers.0.mlp.w_up"), y)
        a = [silu(g[t]) * u[t] for t in range(3)]
        out.append([h[j] + matvec(rows("layers.0.mlp.w_down"), a)[j] for j in range(2)])
    flat = [val for r in out[n:] for val in rms(r, vec("final_norm"))]
    hid = [silu(t) for t in matvec(rows("head.b1"), matvec(rows("head.a1"), flat))]
    z = matvec(rows("head.b2"), matvec(rows("head.a2"), hid))
    return z, n, as_of


def quantize(z):
    z = [f32(t) for t in z]
    scale = f32(max(abs(t) for t in z) / 127)
    codes = [0] * len(z) if scale == 0 else [max(-127, min(127, round(f32(t / scale)))) for t in z]
    return z, codes, scale


def main(out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "config.json"), "w") as fh:
        json.dump(CFG, fh, indent=1)
    tensors = weights()
    header, data = {}, b""
    for name, shape, vals in tensors:
        blob = struct.pack(f"<{len(vals)}f", *vals)
        header[name] = {"dtype": "F32", "shape": shape, "data_offsets": [len(data), len(data) + len(blob)]}
        data += blob
    hb = json.dumps(header).encode()
    with open(os.path.join(out, "model.safetensors"), "wb") as fh:
        fh.write(struct.pack("<Q", len(hb)) + hb + data)
    W = {name: (shape if len(shape) == 2 else [1, shape[0]], vals) for name, shape, vals in tensors}
    events = [
        {"event_id": 7, "ts": 1790900000, "user_id": 5, "item_id": 101, "type": "click", "surface": "feed", "dwell_ms": 1500.0},
        {"event_id": "b", "ts": 1790900000, "user_id": 5, "item_id": 202, "type": "purchase", "surface": "feed", "value": 19.5},
        {"event_id": 3, "ts": 1790896400, "user_id": 5, "item_id": 303, "type": "click", "surface": "search"},
        {"event_id": 1, "ts": 1790800000, "user_id": 5, "item_id": 101, "type": "click", "surface": "feed"},
    ]
    features = [{"user_id": 5, "tier": "gold", "age": 2.5}, {"user_id": 6, "tier": "silver"}]
    expected = []
    for uid in (5, 6):
        evs = [e for e in events if e["user_id"] == uid]
        feats = next((f for f in features if f["user_id"] == uid), {})
        z, n, as_of = encode(W, evs, feats)
        zq, codes, scale = quantize(z)
        expected.append({"user_id": uid, "n_events": n, "as_of": as_of, "z": [zq], "codes": [codes], "scales": [scale]})
    doc = {"format": "llatte-cases-v1", "note": "Tests/ModelTests/Spec/spec_model.py: float64 from docs/checkpoint.md",
           "model_version": CFG["model_version"], "semantic_model": "spec-sem", "d_sem": 2,
           "events": [json.dumps(e) for e in events], "features": [json.dumps(f) for f in features],
           "catalog": [{"item_id": 101, "vector": [0.25, -0.5]}], "expected": expected}
    with open(os.path.join(out, "selftest.json"), "w") as fh:
        json.dump(doc, fh, indent=1)
    print(json.dumps(expected))


if __name__ == "__main__":
    main(sys.argv[1])

#!/usr/bin/env python3
"""The offline model's scaling curves on generated data: held-out AUC against sequence length, depth
and width, with and without semantic item features (docs/study.md, "Scaling").

    python3 reference/scaling.py --out /tmp/llatte-scaling [--quick] [--llatte PATH]

Generates the study data with `llatte sample` into OUT/data (returning users give the data events
weeks back that predict conversions), trains every point of the grid with train.py's recipe (two
processes of one thread each), and scores each run as docs/evaluation.md does: the impressions of
the held-out days, users encoded from their events before the split, int8 embeddings dequantized,
max_k <z_k, tower(item)>. Writes OUT/runs.jsonl (one line per run: config, seed, AUC, training
FLOPs, seconds), OUT/scores/ (each run's held-out scores), OUT/results.json (points averaged over
seeds with user-bootstrap 95% intervals, and the paired differences that decide each rule),
OUT/scaling.md (the tables) and OUT/*.png (the figures). A rerun with the same OUT reuses the runs
already scored. Every seed is fixed.

From Python: scaling.run(out_dir, quick=False, llatte=None) -> the results dict.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import math
import multiprocessing
import os
import shutil
import subprocess
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import evaluate  # noqa: E402
import train  # noqa: E402
from llatte_ref import dataset  # noqa: E402
from llatte_ref.config import ModelConfig  # noqa: E402
from llatte_ref.metrics import bootstrap, replicates, roc_auc  # noqa: E402

DAY = dataset.DAY


@dataclasses.dataclass(frozen=True)
class Plan:
    """The data set, the recipe and the grid of one study."""
    users: int
    days: int
    truth_days: int      # held-out days at the end: split day = days - truth_days
    returning_share: float
    cut_every: int
    epochs: int
    seeds: tuple[int, ...]
    reps: int            # bootstrap replicates
    base_width: int      # the length sweep's model
    base_layers: int
    lengths: tuple[int, ...]         # (a) n_max at base_width × base_layers
    dw_n_max: int                    # n_max of the depth and width sweeps
    depth_widths: tuple[int, ...]    # (b) widths at which depth is swept
    depths: tuple[int, ...]
    widths: tuple[int, ...]          # (c) at base_layers

    @property
    def split_day(self) -> int:
        return self.days - self.truth_days


FULL = Plan(users=2000, days=60, truth_days=7, returning_share=0.5, cut_every=7, epochs=1, seeds=(1, 2),
            reps=1000, base_width=64, base_layers=2, lengths=(32, 64, 128, 256, 512, 1024), dw_n_max=128,
            depth_widths=(32, 128), depths=(1, 2, 4), widths=(32, 64, 128))
QUICK = Plan(users=300, days=24, truth_days=7, returning_share=0.5, cut_every=7, epochs=1, seeds=(1,),
             reps=100, base_width=32, base_layers=2, lengths=(16, 64), dw_n_max=32,
             depth_widths=(16, 32), depths=(1, 2), widths=(16, 32))
SEMANTICS = (True, False)  # with semantic item features, ids only


@dataclasses.dataclass(frozen=True)
class Config:
    """One model of the grid."""
    width: int
    layers: int
    n_max: int
    semantic: bool

    @property
    def name(self) -> str:
        return f"d{self.width}-L{self.layers}-n{self.n_max}-{'sem' if self.semantic else 'ids'}"


def sweeps(p: Plan) -> dict[str, list[Config]]:
    """Every swept curve, by name ('length', 'depth@d32', 'width'), for both input kinds, in size order."""
    out: dict[str, list[Config]] = {}
    for sem in SEMANTICS:
        tag = "sem" if sem else "ids"
        out[f"length/{tag}"] = [Config(p.base_width, p.base_layers, n, sem) for n in p.lengths]
        for w in p.depth_widths:
            out[f"depth@d{w}/{tag}"] = [Config(w, l, p.dw_n_max, sem) for l in p.depths]
        out[f"width/{tag}"] = [Config(w, p.base_layers, p.dw_n_max, sem) for w in p.widths]
    return out


def swept_size(sweep: str, c: Config) -> int:
    """The size a sweep varies: n_max, layers or width."""
    return {"length": c.n_max, "width": c.width}.get(sweep.split("@")[0].split("/")[0], c.layers)


def generate(p: Plan, data_dir: str, llatte: str) -> None:
    """`llatte sample` into data_dir, unless a complete set with the same options is already there."""
    manifest = os.path.join(data_dir, "manifest.json")
    want = {"users": p.users, "days": p.days, "seed": 7, "truth_impression_days": p.truth_days,
            "returning_share": p.returning_share}
    if os.path.exists(manifest):
        with open(manifest) as fh:
            have = json.load(fh)["options"]
        if all(have.get(k) == v for k, v in want.items()):
            return
        shutil.rmtree(data_dir)
    if shutil.which(llatte) is None:
        raise SystemExit(f"llatte binary not found ({llatte!r}): build it (swift build -c release --product llatte) "
                         "and pass --llatte PATH")
    subprocess.run([llatte, "sample", "--out", data_dir, "--users", str(p.users), "--days", str(p.days),
                    "--seed", "7", "--truth-impression-days", str(p.truth_days),
                    "--returning-share", str(p.returning_share)], check=True)


def data_stats(p: Plan, data_dir: str) -> dict:
    """What the data gives the grid: events, pre-split history lengths of the held-out users, the share
    of held-out impressions whose user has more than n events before the split, the training examples."""
    cfg = train.sample_config(data_dir, "scaling")
    corpus = dataset.load(data_dir, cfg)
    split = corpus.start_ts + p.split_day * DAY
    rows = evaluate.held_out(data_dir, split)
    before = {uid: int(np.searchsorted(u.ts, split, side="left")) for uid, u in corpus.users.items()}
    per_row = np.array([before.get(r["user_id"], 0) for r in rows])
    held_users = sorted({r["user_id"] for r in rows})
    cuts = [corpus.start_ts + d * DAY for d in range(2, p.split_day, p.cut_every)]
    exs = train.examples(corpus, cuts, train.parser().get_default("window_days") * DAY, split)
    labels = np.array([r["converted"] for r in rows], np.float64)
    users = np.array([r["user_id"] for r in rows], np.uint64)
    baselines = {"popularity: conversion rate": evaluate.popularity(corpus, split, rows)["popularity: conversion rate"],
                 "diagnostic: history category share": evaluate.category_share(data_dir, corpus, split, rows),
                 "oracle p_convert": np.array([r["p_convert"] for r in rows])}
    return {"users": len(corpus.users), "events": corpus.stats["distinct_events"],
            "baselines": bootstrap(users, labels, baselines, reps=p.reps, seed=0),
            "median_presplit_events_of_held_out_users": float(np.median([before.get(u, 0) for u in held_users])),
            "held_out_share_of_users_with_more_than_n": {n: float((per_row > n).mean()) for n in p.lengths},
            "training_examples": len(exs), "training_impressions": int(sum(len(e[2]) for e in exs)),
            "training_conversions": int(sum(e[3].sum() for e in exs)), "training_clicks": int(sum(e[4].sum() for e in exs)),
            "cuts": len(cuts)}


# MARK: - Runs (in worker processes: one thread each, the data loaded once per process)

_WORKER: dict = {}


def _init_worker(data_dir: str, split_day: int) -> None:
    cfg = train.sample_config(data_dir, "scaling")
    corpus = dataset.load(data_dir, cfg)
    split = corpus.start_ts + split_day * DAY
    rows = evaluate.held_out(data_dir, split)
    _WORKER.update(corpus=corpus, split=split, rows=rows, uids=sorted({r["user_id"] for r in rows}))


def _run(job: tuple[Plan, Config, int, str, str]) -> dict:
    """Trains one (config, seed), scores the held-out impressions, saves the scores; -> its record."""
    from llatte_ref.model import LLaTTE
    p, c, seed, data_dir, scores_path = job
    argv = ["--data", data_dir, "--out", "-", "--model-version", "scaling", "--split-day", str(p.split_day),
            "--cut-every", str(p.cut_every), "--epochs", str(p.epochs), "--width", str(c.width),
            "--layers", str(c.layers), "--n-max", str(c.n_max), "--seed", str(seed), "--threads", "1"]
    args = train.parser().parse_args(argv + ([] if c.semantic else ["--ids-only"]))
    state = train.train(args, _WORKER["corpus"], log=lambda msg: None)
    t0 = time.time()
    cfg = ModelConfig.from_json(state["config"])
    view = dataclasses.replace(_WORKER["corpus"], cfg=cfg)
    if not c.semantic:
        view = dataset.without_semantics(view)
    model = LLaTTE(cfg)
    model.load_state_dict(state["encoder"])
    emb = evaluate.encode(model, view, _WORKER["uids"], _WORKER["split"])
    scores = evaluate.tower_scores(state, view, emb, _WORKER["rows"])
    np.save(scores_path, scores)
    labels = np.array([r["converted"] for r in _WORKER["rows"]], np.float64)
    return {"name": c.name, "config": dataclasses.asdict(c), "seed": seed, "auc": roc_auc(scores, labels),
            "training_flops": state["training_flops"], "train_seconds": round(state["seconds"], 1),
            "eval_seconds": round(time.time() - t0, 1),
            "params": sum(int(v.numel()) for v in state["encoder"].values()),
            "final_train_loss": state["history"][-1]["train_loss"]}


def _cost(c: Config) -> float:
    """Rough relative cost, to start the longest runs first (two workers finish together)."""
    return c.layers * (c.width / 64) ** 1.5 * (c.n_max / 256) ** 0.8 + 0.3


# MARK: - Analysis

def _summary(x: np.ndarray) -> dict:
    lo, hi = np.percentile(x, [2.5, 97.5])
    return {"lo": float(lo), "hi": float(hi)}


def _slope(xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """Least-squares slope of ys (…, k) on xs (k,) along the last axis."""
    xc = xs - xs.mean()
    return ((ys - ys.mean(-1, keepdims=True)) * xc).sum(-1) / (xc * xc).sum()


def analyse(p: Plan, records: list[dict], scores: dict[str, np.ndarray], users: np.ndarray,
            labels: np.ndarray) -> dict:
    """Per point: AUC averaged over seeds with its 95% interval; per sweep: slopes per doubling of the
    swept size and of training FLOPs; and the paired differences that decide each rule."""
    samples = replicates(users, labels, scores, reps=p.reps, seed=0)
    by_cfg: dict[str, list[dict]] = {}
    for r in records:
        by_cfg.setdefault(r["name"], []).append(r)
    points = {}
    point_samples = {}
    for name, rs in by_cfg.items():
        keys = [f"{name}/s{r['seed']}" for r in rs]
        point_samples[name] = np.mean([samples[k] for k in keys], axis=0)
        points[name] = {"config": rs[0]["config"], "auc": float(np.mean([r["auc"] for r in rs])),
                        "seed_aucs": [r["auc"] for r in rs], "training_flops": float(np.mean([r["training_flops"] for r in rs])),
                        "train_seconds": float(np.mean([r["train_seconds"] for r in rs])), "params": rs[0]["params"],
                        **_summary(point_samples[name])}

    def diff(a: str, b: str) -> dict:
        return {"a": a, "b": b, "diff": points[a]["auc"] - points[b]["auc"], **_summary(point_samples[a] - point_samples[b])}

    curves = {}
    slope_samples = {}
    for sweep, cfgs in sweeps(p).items():
        names = [c.name for c in cfgs]
        sizes = np.log2([swept_size(sweep, c) for c in cfgs])
        flops = np.log2([points[n]["training_flops"] for n in names])
        aucs = np.array([points[n]["auc"] for n in names])
        reps = np.stack([point_samples[n] for n in names], axis=1)  # [reps, k]
        slope_samples[sweep] = {"size": _slope(sizes, reps), "flops": _slope(flops, reps)}
        curves[sweep] = {"points": names,
                         "slope_per_doubling": {"value": float(_slope(sizes, aucs)), **_summary(slope_samples[sweep]["size"])},
                         "slope_per_flops_doubling": {"value": float(_slope(flops, aucs)),
                                                      **_summary(slope_samples[sweep]["flops"])},
                         "largest_minus_smallest": diff(names[-1], names[0]),
                         "slope_per_doubling_by_seed": [float(_slope(sizes, np.array([points[n]["seed_aucs"][j] for n in names])))
                                                        for j in range(len(p.seeds))]}

    def slope_diff(a: str, b: str, kind: str, label: str) -> dict:
        """Slope of curve a minus slope of curve b (and their ratio), per doubling of the size or of FLOPs."""
        va = curves[a]["slope_per_doubling" if kind == "size" else "slope_per_flops_doubling"]["value"]
        vb = curves[b]["slope_per_doubling" if kind == "size" else "slope_per_flops_doubling"]["value"]
        sa, sb = slope_samples[a][kind], slope_samples[b][kind]
        lo, hi = np.percentile(sa / sb, [2.5, 97.5])
        return {"label": label, "a": a, "b": b, "per": kind, "diff": va - vb, **_summary(sa - sb),
                "ratio": va / vb, "ratio_lo": float(lo), "ratio_hi": float(hi)}

    dw = max(p.depth_widths)
    d_lo, d_hi = min(p.depths), max(p.depths)
    rules = {
        # (1) length is the most efficient lever: AUC gained per doubling of training FLOPs.
        "length_vs_depth_per_flops": slope_diff("length/sem", f"depth@d{dw}/sem", "flops",
                                                f"per doubling of training FLOPs: length − depth at d = {dw}"),
        "length_vs_width_per_flops": slope_diff("length/sem", "width/sem", "flops",
                                                "per doubling of training FLOPs: length − width"),
        "depth_vs_width_per_flops": slope_diff(f"depth@d{dw}/sem", "width/sem", "flops",
                                               f"per doubling of training FLOPs: depth at d = {dw} − width"),
        # (2) semantic features make scaling work: the slope with them against without.
        "semantics_length_slope": slope_diff("length/sem", "length/ids", "size",
                                             "per doubling of n_max: with semantics − ids only"),
        f"semantics_depth@d{dw}_slope": slope_diff(f"depth@d{dw}/sem", f"depth@d{dw}/ids", "size",
                                                   f"per doubling of depth at d = {dw}: with semantics − ids only"),
        "semantics_width_slope": slope_diff("width/sem", "width/ids", "size",
                                            "per doubling of width: with semantics − ids only"),
    }
    # (3) depth pays only at a large enough width: the depth gain at each width, and their difference.
    for tag in ("sem", "ids"):
        gains = {}
        for w in p.depth_widths:
            first, last = curves[f"depth@d{w}/{tag}"]["points"][0], curves[f"depth@d{w}/{tag}"]["points"][-1]
            gains[w] = (point_samples[last] - point_samples[first], points[last]["auc"] - points[first]["auc"])
            rules[f"depth_gain@d{w}/{tag}"] = {"label": f"{d_hi} layers − {d_lo} at d = {w}, {tag}",
                                               "diff": gains[w][1], **_summary(gains[w][0])}
        lo_w, hi_w = min(p.depth_widths), max(p.depth_widths)
        rules[f"depth_gain_wide_minus_narrow/{tag}"] = {
            "label": f"depth gain at d = {hi_w} − depth gain at d = {lo_w}, {tag}",
            "diff": gains[hi_w][1] - gains[lo_w][1], **_summary(gains[hi_w][0] - gains[lo_w][0])}
    sem_minus_ids = {}
    for name in points:
        if name.endswith("-sem"):
            other = name[:-3] + "ids"
            if other in points:
                sem_minus_ids[name[:-4]] = diff(name, other)
    return {"points": points, "curves": curves, "rules": rules, "semantics_minus_ids": sem_minus_ids}


# MARK: - Report

def _num(x: float, fmt: str = ".4f") -> str:
    """A number as the docs print it: a true minus sign (U+2212), not a hyphen."""
    return format(x, fmt).replace("-", "\u2212")


def _fmt_ci(d: dict, key: str = "auc", signed: bool = False) -> str:
    f = "+.4f" if signed else ".4f"
    return f"{_num(d[key], f)} [{_num(d['lo'], f)}, {_num(d['hi'], f)}]"


def _spread(point: dict) -> float:
    """Largest minus smallest AUC over the point's seeds (the intervals cover users, not seeds)."""
    return max(point["seed_aucs"]) - min(point["seed_aucs"])


def table(p: Plan, res: dict) -> str:
    """The markdown tables: every point of each sweep, then the slopes and the rule comparisons."""
    pts, lines = res["points"], []
    h = res["held_out"]
    lines += [f"Held out: {h['impressions']:,} impressions of {h['users']:,} users, {h['converted']:,} converted. "
              "On the same set: " + "; ".join(f"{k} {_fmt_ci(v)}" for k, v in res["data"]["baselines"].items()) + ".", ""]
    for sweep_name, label in [("length", "n_max"), *[(f"depth@d{w}", "layers") for w in p.depth_widths],
                              ("width", "d")]:
        cfgs = sweeps(p)[f"{sweep_name}/sem"]
        c0 = cfgs[0]
        fixed = {"length": f"d = {c0.width}, {c0.layers} layers",
                 "width": f"{c0.layers} layers, n_max = {c0.n_max}"}.get(sweep_name, f"d = {c0.width}, n_max = {c0.n_max}")
        lines += [f"**{sweep_name.replace('@d', ' at d = ')}** ({fixed}; AUC averaged over seeds {', '.join(map(str, p.seeds))})", "",
                  f"| {label} | params | training FLOPs | with semantics | ids only | semantics − ids | seed spread | s per run |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in cfgs:
            s, i = pts[c.name], pts[dataclasses.replace(c, semantic=False).name]
            d = res["semantics_minus_ids"][c.name[:-4]]
            lines.append(f"| {swept_size(sweep_name, c)} | {s['params']:,} | {s['training_flops']:.2e} | {_fmt_ci(s)} | "
                         f"{_fmt_ci(i)} | {_fmt_ci(d, 'diff', True)} | {_num(_spread(s))} / {_num(_spread(i))} | "
                         f"{s['train_seconds']:.0f} / {i['train_seconds']:.0f} |")
        lines.append("")
    lines += ["| curve | AUC per doubling of the size | each seed alone | AUC per doubling of training FLOPs | largest − smallest |",
              "|---|---|---|---|---|"]
    for name, cv in res["curves"].items():
        lines.append(f"| {name} | {_fmt_ci(cv['slope_per_doubling'], 'value', True)} | "
                     f"{' / '.join(_num(v, '+.4f') for v in cv['slope_per_doubling_by_seed'])} | "
                     f"{_fmt_ci(cv['slope_per_flops_doubling'], 'value', True)} | "
                     f"{_fmt_ci(cv['largest_minus_smallest'], 'diff', True)} |")
    lines += ["", "| comparison (AUC) | difference | 95% CI | ratio [95% CI] |", "|---|---|---|---|"]
    for r in res["rules"].values():
        ratio = f"{_num(r['ratio'], '.2f')} [{_num(r['ratio_lo'], '.2f')}, {_num(r['ratio_hi'], '.2f')}]" if "ratio" in r else ""
        lines.append(f"| {r['label']} | {_num(r['diff'], '+.4f')} | [{_num(r['lo'], '+.4f')}, {_num(r['hi'], '+.4f')}] | {ratio} |")
    return "\n".join(lines) + "\n"


def figures(p: Plan, res: dict, out_dir: str) -> list[str]:
    """scaling-flops.png: AUC against training FLOPs, every lever on one axis, one panel with semantic
    features and one without; scaling-size.png: AUC against each swept size, with and without."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter
    pts = res["points"]
    levers = ["length"] + [f"depth@d{w}" for w in p.depth_widths] + ["width"]
    xlabels = {"length": "n_max (newest events read)", "width": "width d"}

    def curve(sweep: str, sem: bool, x_kind: str):
        cfgs = sweeps(p)[f"{sweep}/{'sem' if sem else 'ids'}"]
        xs = [pts[c.name]["training_flops"] if x_kind == "flops" else swept_size(sweep, c) for c in cfgs]
        ys = np.array([pts[c.name]["auc"] for c in cfgs])
        err = np.array([[y - pts[c.name]["lo"] for c, y in zip(cfgs, ys)], [pts[c.name]["hi"] - y for c, y in zip(cfgs, ys)]])
        return xs, ys, err

    def save(fig, axes, name: str) -> str:
        axes[0].set_ylabel("held-out AUC (95% CI)")
        axes[0].legend(fontsize=8)
        fig.tight_layout()
        path = os.path.join(out_dir, name)
        fig.savefig(path, dpi=80)
        plt.close(fig)
        return path

    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=True)
    for ax, sem in zip(axes, SEMANTICS):
        for k, sweep in enumerate(levers):
            xs, ys, err = curve(sweep, sem, "flops")
            ax.errorbar(xs, ys, yerr=err, fmt="-o", capsize=3, ms=4, color=f"C{k}",
                        label=sweep.replace("@d", " at d = "))
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(LogLocator(base=10, subs=(1.0, 3.0)))
        ax.xaxis.set_major_formatter(LogFormatterSciNotation(labelOnlyBase=False))
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xlabel("training FLOPs")
        ax.set_title("with semantic item features" if sem else "ids only", fontsize=10)
        ax.grid(alpha=0.3)
    paths.append(save(fig, axes, "scaling-flops.png"))

    fig, axes = plt.subplots(1, len(levers), figsize=(3.2 * len(levers), 3.4), sharey=True)
    for ax, sweep in zip(axes, levers):
        for sem, style in ((True, "-o"), (False, "--s")):
            xs, ys, err = curve(sweep, sem, "size")
            ax.errorbar(xs, ys, yerr=err, fmt=style, capsize=3, ms=4, label="with semantics" if sem else "ids only")
        ax.set_xscale("log", base=2)
        ax.xaxis.set_minor_formatter(NullFormatter())
        ax.set_xticks(xs, [str(x) for x in xs])
        ax.set_xlabel(xlabels.get(sweep, f"layers (d = {sweep.split('@d')[-1]})"))
        ax.set_title(sweep.replace("@d", " at d = "), fontsize=10)
        ax.grid(alpha=0.3)
    paths.append(save(fig, axes, "scaling-size.png"))
    return paths


# MARK: - Study

def run(out_dir: str, quick: bool = False, llatte: str | None = None, log=print) -> dict:
    """Generates the data, trains and scores the grid (runs already scored in out_dir are reused),
    and writes runs.jsonl, results.json, scaling.md and the figures. -> the results dict."""
    p = QUICK if quick else FULL
    t_start = time.time()
    llatte = llatte or shutil.which("llatte") or "llatte"
    os.makedirs(os.path.join(out_dir, "scores"), exist_ok=True)
    data_dir = os.path.join(out_dir, "data")
    generate(p, data_dir, llatte)
    log(f"data: {data_dir} ({time.time() - t_start:.0f}s)")

    configs = sorted({c for cs in sweeps(p).values() for c in cs}, key=_cost, reverse=True)
    runs_path = os.path.join(out_dir, "runs.jsonl")
    done = {}
    if os.path.exists(runs_path):
        with open(runs_path) as fh:
            for line in fh:
                r = json.loads(line)
                if os.path.exists(os.path.join(out_dir, "scores", f"{r['name']}-s{r['seed']}.npy")):
                    done[(r["name"], r["seed"])] = r
    jobs = [(p, c, s, data_dir, os.path.join(out_dir, "scores", f"{c.name}-s{s}.npy"))
            for c in configs for s in p.seeds if (c.name, s) not in done]
    log(f"{len(configs)} configs × {len(p.seeds)} seeds: {len(jobs)} runs to do, {len(done)} reused")
    records = list(done.values())
    if jobs:
        # fork: workers inherit the imports; each loads the data once and runs with one thread.
        ctx = multiprocessing.get_context("fork")
        with ctx.Pool(2, initializer=_init_worker, initargs=(data_dir, p.split_day)) as pool, \
                open(runs_path, "a") as fh:
            for r in pool.imap_unordered(_run, jobs):
                records.append(r)
                fh.write(json.dumps(r) + "\n")
                fh.flush()
                log(f"[{time.time() - t_start:5.0f}s] {r['name']} seed {r['seed']}: AUC {r['auc']:.4f}, "
                    f"{r['training_flops']:.2e} FLOPs, {r['train_seconds']:.0f}s train + {r['eval_seconds']:.0f}s eval")
    t_grid = time.time() - t_start
    results_path = os.path.join(out_dir, "results.json")
    if not jobs and os.path.exists(results_path):
        with open(results_path) as fh:  # every run reused: keep the time of the run that trained them
            t_grid = json.load(fh).get("grid_seconds", t_grid)

    # The held-out set, read once more here for the labels and users the bootstrap needs.
    with open(os.path.join(data_dir, "manifest.json")) as fh:
        start_ts = int(json.load(fh)["options"]["start_ts"])
    rows = evaluate.held_out(data_dir, start_ts + p.split_day * DAY)
    users = np.array([r["user_id"] for r in rows], np.uint64)
    labels = np.array([r["converted"] for r in rows], np.float64)
    wanted = {(c.name, s) for c in configs for s in p.seeds}
    records = sorted((r for r in records if (r["name"], r["seed"]) in wanted), key=lambda r: (r["name"], r["seed"]))
    scores = {f"{r['name']}/s{r['seed']}": np.load(os.path.join(out_dir, "scores", f"{r['name']}-s{r['seed']}.npy"))
              for r in records}
    res = analyse(p, records, scores, users, labels)
    res.update(plan=dataclasses.asdict(p), runs=records, data=data_stats(p, data_dir),
               held_out={"impressions": len(rows), "users": int(len(np.unique(users))), "converted": int(labels.sum())},
               grid_seconds=round(t_grid), total_seconds=round(time.time() - t_start))
    with open(results_path, "w") as fh:
        json.dump(res, fh, indent=1)
    with open(os.path.join(out_dir, "scaling.md"), "w") as fh:
        fh.write(table(p, res))
    res["figures"] = figures(p, res, out_dir)
    log(f"wrote {out_dir}/results.json, scaling.md, {', '.join(os.path.basename(f) for f in res['figures'])} "
        f"({res['total_seconds']}s)")
    return res


def main() -> None:
    """Parses the arguments and runs the study."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", required=True, help="work directory: data, runs, results, tables, figures")
    ap.add_argument("--quick", action="store_true", help="smoke test: tiny data, one seed, two points per sweep")
    ap.add_argument("--llatte", help="the llatte binary (default: llatte on PATH)")
    args = ap.parse_args()
    run(args.out, args.quick, args.llatte, log=lambda msg: print(msg, flush=True))


if __name__ == "__main__":
    main()

"""ROC AUC and a user-level (cluster) bootstrap of it, for scores of held-out impressions."""
from __future__ import annotations

import numpy as np


def _avg_ranks(scores: np.ndarray) -> np.ndarray:
    """1-based ranks, ties sharing their average rank."""
    order = np.argsort(scores, kind="mergesort")
    s = scores[order]
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    ends = np.r_[starts[1:], len(s)]
    avg = (starts + ends + 1) / 2.0  # mean of the 1-based ranks starts+1 .. ends
    ranks = np.empty(len(s), np.float64)
    ranks[order] = np.repeat(avg, ends - starts)
    return ranks


def roc_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """ROC AUC with ties counted half (Mann-Whitney U)."""
    scores = np.asarray(scores, np.float64)
    pos = np.asarray(labels) > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    return float((_avg_ranks(scores)[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def weighted_auc(scores: np.ndarray, pos: np.ndarray, w: np.ndarray) -> float:
    """AUC with per-impression weights (a bootstrap replicate's user multiplicities); ties count half."""
    order = np.argsort(scores, kind="mergesort")
    s, p, ww = scores[order], pos[order], w[order]
    starts = np.r_[0, np.flatnonzero(s[1:] != s[:-1]) + 1]
    wp = np.add.reduceat(ww * p, starts)
    wn = np.add.reduceat(ww * ~p, starts)
    neg_below = np.cumsum(wn) - wn
    total = (wp * (neg_below + 0.5 * wn)).sum()
    return float(total / (wp.sum() * wn.sum()))


def resampled_weights(users: np.ndarray, reps: int, seed: int = 0):
    """The bootstrap's draws: for each of reps replicates, every impression's weight = how many times
    its user was drawn when the users are resampled with replacement. The same seed gives the same
    draws, so metrics computed on them are paired."""
    rng = np.random.default_rng(seed)
    uniq, inv = np.unique(users, return_inverse=True)
    for _ in range(reps):
        yield np.bincount(rng.integers(0, len(uniq), len(uniq)), minlength=len(uniq)).astype(np.float64)[inv]


def replicates(users: np.ndarray, labels: np.ndarray, scorers: dict[str, np.ndarray], reps: int = 1000,
               seed: int = 0) -> dict[str, np.ndarray]:
    """The bootstrap's replicate AUCs, [reps] per scorer: users resampled with replacement (all of a
    user's impressions go together); every scorer sees the same draws, so differences are paired.

    Each scorer's order is sorted once; a replicate only changes the weights, so this equals
    weighted_auc on every replicate at a fraction of the cost.
    """
    pos = np.asarray(labels) > 0.5
    sorted_ = {}
    for k, s in scorers.items():
        order = np.argsort(s, kind="mergesort")
        ss = s[order]
        sorted_[k] = (order, pos[order], np.r_[0, np.flatnonzero(ss[1:] != ss[:-1]) + 1])
    samples = {k: np.empty(reps) for k in scorers}
    for r, w in enumerate(resampled_weights(users, reps, seed)):
        for k, (order, p, starts) in sorted_.items():
            ww = w[order]
            wp = np.add.reduceat(ww * p, starts)
            wn = np.add.reduceat(ww * ~p, starts)
            neg_below = np.cumsum(wn) - wn
            samples[k][r] = float((wp * (neg_below + 0.5 * wn)).sum() / (wp.sum() * wn.sum()))
    return samples


def bootstrap(users: np.ndarray, labels: np.ndarray, scorers: dict[str, np.ndarray], reps: int = 1000,
              seed: int = 0, diffs: list[tuple[str, str]] = ()) -> dict:
    """Resamples users with replacement (all of a user's impressions go together), reps times; returns
    per scorer the point AUC and the 2.5/97.5 percentiles, and the same for each (a - b) difference."""
    samples = replicates(users, labels, scorers, reps, seed)
    out = {}
    for k, s in scorers.items():
        lo, hi = np.percentile(samples[k], [2.5, 97.5])
        out[k] = {"auc": roc_auc(s, labels), "lo": float(lo), "hi": float(hi)}
    for a, b in diffs:
        d = samples[a] - samples[b]
        lo, hi = np.percentile(d, [2.5, 97.5])
        out[f"{a} - {b}"] = {"diff": out[a]["auc"] - out[b]["auc"], "lo": float(lo), "hi": float(hi)}
    return out

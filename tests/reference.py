"""Independent NumPy float64 references, written from the documented formulas.

Deliberately *not* the simplified forms the library computes: binary cross-entropy is written
from its definition ``-[y log σ(x) + (1 - y) log(1 - σ(x))]`` with a stable log-sigmoid, the
relativistic loss from its sigmoid definition, and so on.  Each function returns the real and
fake elementwise terms, so every reduction can be checked.  The relativistic pairing losses
(rpgan, rp_hinge, rp_lsgan) have one term per (real, fake) pair: it is returned as the "real"
term of the discriminator (the "fake" one is zeros) and as the fake term of the generator.
"""

from __future__ import annotations

import numpy as np


def log_sigmoid(x: np.ndarray) -> np.ndarray:
    """log σ(x) = -log(1 + e^{-x}), stable for any sign of x."""
    x = np.asarray(x, dtype=np.float64)
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return np.exp(log_sigmoid(x))


def bce(x: np.ndarray, y: float) -> np.ndarray:
    """Binary cross-entropy of logits x with target y: -[y log σ(x) + (1-y) log(1-σ(x))]."""
    return -(y * log_sigmoid(x) + (1.0 - y) * log_sigmoid(-x))


def discriminator_terms(
    name: str, r: np.ndarray, f: np.ndarray, **hp: float
) -> tuple[np.ndarray, np.ndarray]:
    r = np.asarray(r, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    if name in ("minimax", "ns"):
        return bce(r, hp.get("real_label", 1.0)), bce(f, 0.0)
    if name == "lsgan":
        a, b = hp.get("a", 0.0), hp.get("b", 1.0)
        return 0.5 * (r - b) ** 2, 0.5 * (f - a) ** 2
    if name == "hinge":
        mr, mf = hp.get("real_margin", 1.0), hp.get("fake_margin", 1.0)
        return np.maximum(0.0, mr - r), np.maximum(0.0, mf + f)
    if name == "wgan":
        return -r, f
    if name == "ragan":  # D̃(x_r) = σ(r - mean f) should be 1, D̃(x_f) = σ(f - mean r) should be 0
        return -log_sigmoid(r - f.mean()), -log_sigmoid(-(f - r.mean()))
    if name in PAIRED:  # one term per pair (r_i, f_i)
        pair = paired_term(name, r, f)
        return pair, np.zeros_like(pair)
    raise KeyError(name)


PAIRED = ("rpgan", "rp_hinge", "rp_lsgan")


def paired_term(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The pairing losses' φ(x - y): D uses (r, f), G (f, r).  rpgan: -log σ(x - y), the
    probability that x is more realistic than y; rp_hinge: max(0, 1 - (x - y));
    rp_lsgan: (x - y - 1)^2 (Jolicoeur-Martineau 2018, Algorithm 1)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if name == "rpgan":
        return -log_sigmoid(x - y)
    if name == "rp_hinge":
        return np.maximum(0.0, 1.0 - (x - y))
    if name == "rp_lsgan":
        return (x - y - 1.0) ** 2
    raise KeyError(name)


def paired_derivative(name: str, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """dφ(x - y)/dx (= -dφ(x - y)/dy), derived by hand."""
    d = np.asarray(x, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    if name == "rpgan":
        return -sigmoid(-d)
    if name == "rp_hinge":
        return -(d < 1.0).astype(float)
    if name == "rp_lsgan":
        return 2.0 * (d - 1.0)
    raise KeyError(name)


def generator_terms(
    name: str, f: np.ndarray, r: np.ndarray | None = None, **hp: float
) -> tuple[np.ndarray | None, np.ndarray]:
    """(real term or None, fake term)."""
    f = np.asarray(f, dtype=np.float64)
    if name == "minimax":  # minimise log(1 - σ(f))
        return None, log_sigmoid(-f)
    if name == "ns":  # minimise -log σ(f)
        return None, -log_sigmoid(f)
    if name == "lsgan":
        return None, 0.5 * (f - hp.get("c", 1.0)) ** 2
    if name in ("hinge", "wgan"):
        return None, -f
    if name == "ragan":
        r = np.asarray(r, dtype=np.float64)
        return -log_sigmoid(-(r - f.mean())), -log_sigmoid(f - r.mean())
    if name in PAIRED:
        return None, paired_term(name, f, r)
    raise KeyError(name)


def reduce(
    terms: tuple[np.ndarray | None, np.ndarray], reduction: str, weights=(None, None)
) -> np.ndarray:
    out = []
    for term, w in zip(terms, weights, strict=True):
        if term is None:
            continue
        v = term if w is None else term * np.asarray(w, dtype=np.float64)
        out.append(v.mean() if reduction == "mean" else v.sum() if reduction == "sum" else v)
    return sum(out[1:], out[0])


def discriminator_loss(name, r, f, reduction="mean", real_weights=None, fake_weights=None, **hp):
    return reduce(discriminator_terms(name, r, f, **hp), reduction, (real_weights, fake_weights))


def generator_loss(name, f, r=None, reduction="mean", weights=None, **hp):
    real, fake = generator_terms(name, f, r, **hp)
    return reduce((real, fake), reduction, (None, weights))


def discriminator_grads(name, r, f, **hp):
    """Closed-form d(mean-reduced D loss)/dr and /df, derived by hand."""
    r = np.asarray(r, dtype=np.float64)
    f = np.asarray(f, dtype=np.float64)
    n, m = r.size, f.size
    if name in ("minimax", "ns"):
        y = hp.get("real_label", 1.0)
        return (sigmoid(r) - y) / n, sigmoid(f) / m
    if name == "lsgan":
        return (r - hp.get("b", 1.0)) / n, (f - hp.get("a", 0.0)) / m
    if name == "hinge":
        return -(r < hp.get("real_margin", 1.0)).astype(float) / n, (
            f > -hp.get("fake_margin", 1.0)
        ).astype(float) / m
    if name == "wgan":
        return np.full_like(r, -1.0 / n), np.full_like(f, 1.0 / m)
    if name == "ragan":
        s_real = sigmoid(f.mean() - r)  # derivative of softplus(mean f - r_i)
        s_fake = sigmoid(f - r.mean())  # derivative of softplus(f_j - mean r)
        return (-s_real - s_fake.mean()) / n, (s_real.mean() + s_fake) / m
    if name in PAIRED:
        d = paired_derivative(name, r, f) / n
        return d, -d
    raise KeyError(name)


def generator_grads(name, f, r=None, **hp):
    """Closed-form d(mean-reduced G loss)/df (and /dr for ragan and the pairing losses, else
    None)."""
    f = np.asarray(f, dtype=np.float64)
    m = f.size
    if name == "minimax":
        return -sigmoid(f) / m, None
    if name == "ns":
        return -sigmoid(-f) / m, None
    if name == "lsgan":
        return (f - hp.get("c", 1.0)) / m, None
    if name in ("hinge", "wgan"):
        return np.full_like(f, -1.0 / m), None
    if name == "ragan":
        r = np.asarray(r, dtype=np.float64)
        n = r.size
        s_real = sigmoid(r - f.mean())  # derivative of softplus(r_i - mean f)
        s_fake = sigmoid(r.mean() - f)  # derivative of softplus(mean r - f_j)
        return (-s_real.mean() - s_fake) / m, (s_real + s_fake.mean()) / n
    if name in PAIRED:
        d = paired_derivative(name, f, r) / m
        return d, -d
    raise KeyError(name)

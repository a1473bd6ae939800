r"""Spectral normalization (Miyato et al. 2018): one pure power-iteration step on explicit state.

Symbols: ``weight`` is a layer's weight of any rank >= 1 and ``dim`` its output axis; the matrix
the spectral norm is taken of is

$$
W = \operatorname{reshape}(\operatorname{moveaxis}(\text{weight}, \text{dim}, 0),
(\text{out}, -1)) \in \mathbb{R}^{\text{out} \times m}, \qquad
\text{out} = \text{weight.shape[dim]},\; m = \text{weight.size} / \text{out}
$$

(PyTorch's rule: ``dim=0`` for ``Linear``/``Conv*`` weights ``(out, in, ...)``, ``dim=1`` for
``ConvTranspose*`` weights ``(in, out, ...)``, ``dim=-1`` for Keras/Flax kernels ``(..., in, out)``).
The state is a pair of unit vectors $u \in \mathbb{R}^{\text{out}}$ (left singular vector
estimate) and $v \in \mathbb{R}^{m}$ (right).  With
$n(x) = x / \max(\lVert x \rVert_2, \epsilon)$ (what ``torch.nn.functional.normalize``
computes; Keras' ``ops.normalize`` computes the same value as
$x \cdot \min(\operatorname{rsqrt}\sum x^2, 1/\epsilon)$), one call does
``n_power_iterations`` times

$$
v \leftarrow n(W^\top u), \qquad u \leftarrow n(W v)
$$

(**v first, then u** — the order of Keras 3, Flax linen and torch's legacy
``torch.nn.utils.spectral_norm``; torch's ``parametrizations.spectral_norm`` and TF-GAN iterate
u first, which is this function applied to $W^\top$ — see ``docs/spectral_norm.md``), then

$$
\sigma = u^\top W v, \qquad \text{result} = \text{weight} / \sigma .
$$

No gradient flows through the power iteration (``u`` and ``v`` are constants for autodiff); the
gradient flows through ``W`` in $\sigma$, so
$\partial \sigma / \partial W = u v^\top$.  With ``n_power_iterations=0`` (evaluation) the
given ``(u, v)`` are used unchanged, so an evaluation call with the state returned by the last
training call reproduces that call's σ and weight exactly.

Precision: float16/bfloat16 weights are iterated and divided in float32 (σ, ``u`` and ``v`` are
float32; the normalized weight is cast back to the weight's dtype); float32 and float64 are
computed in their own dtype.  Nothing here synchronises with the host, so the function runs
inside ``torch.compile``, ``tf.function`` and ``jax.jit``.

The framework front ends (``advloss.nn.torch``, ``advloss.nn.keras``, ``advloss.nn.flax``) hold
``(u, v)`` as module state and call ``spectral_normalize`` in their forward pass; see
``docs/spectral_norm.md`` for the mappings onto torch's, Keras' and Flax's built-ins.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from advloss._checks import floating, integer, positive
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for, optional_primitive
from advloss.errors import AdvlossTypeError, AdvlossValueError

__all__ = ["SN_EPSILON", "SpectralNormState", "init_state", "spectral_normalize"]

#: Default ε of the power iteration's normalization ``x / max(‖x‖, ε)`` (torch's and Flax's).
SN_EPSILON = 1e-12
"""ε in the power iteration's normalisations, v / max(‖v‖, ε) (as torch's spectral_norm)."""


class SpectralNormState(NamedTuple):
    """What ``spectral_normalize`` returns.

    Attributes:
        weight: ``weight / σ``, the shape and dtype of the input weight.
        sigma: σ = uᵀ W v, a 0-d tensor in the computation dtype (float32 for float16/bfloat16
            weights); differentiable with respect to the weight.
        u: the new left vector, shape ``(out,)``, computation dtype, no gradient.
        v: the new right vector, shape ``(m,)``, computation dtype, no gradient.

    Examples:
        >>> import numpy as np, advloss
        >>> W = np.array([[3.0, 0.0], [0.0, 1.0]])           # largest singular value 3
        >>> state = advloss.spectral_normalize(W, np.array([1.0, 0.0]), np.zeros(2))
        >>> state._fields, round(float(state.sigma), 4)
        (('weight', 'sigma', 'u', 'v'), 3.0)
    """

    weight: Any
    sigma: Any
    u: Any
    v: Any


# ------------------------------------------------------------------------------ validation


def _iterations(where: str, name: str, value: Any, minimum: int = 0) -> int:
    return integer(where, name, value, minimum=minimum)


def _epsilon(where: str, value: Any) -> float:
    return positive(where, "eps", value, "it bounds the norm divided by in the power iteration")


def _layout(where: str, b: Backend, weight: Any, dim: Any) -> tuple[int, int, int]:
    """``(dim, out, m)`` for a weight, with ``dim`` made non-negative."""
    floating(where, "weight", b, weight)
    shape = b.shape(weight)
    if len(shape) == 0:
        raise AdvlossValueError(f"{where}: weight must have at least one axis; received a scalar.")
    if any(s is None for s in shape):
        raise AdvlossValueError(
            f"{where}: the weight's shape must be known when tracing; received {shape}."
        )
    if isinstance(dim, bool) or not isinstance(dim, int) or not -len(shape) <= dim < len(shape):
        raise AdvlossValueError(
            f"{where}: dim must be an int in [{-len(shape)}, {len(shape) - 1}] for a weight of "
            f"shape {shape}; received {dim!r}."
        )
    dim %= len(shape)
    out = int(shape[dim])
    size = 1
    for s in shape:
        size *= int(s)  # type: ignore[arg-type]
    if out == 0 or size == 0:
        raise AdvlossValueError(f"{where}: weight must not be empty; received shape {shape}.")
    return dim, out, size // out


def _vector(
    where: str,
    b: Backend,
    name: str,
    x: Any,
    length: int,
    dtype: str,
    hint: str,
    detach: bool = True,
) -> Any:
    if x is None:
        raise AdvlossTypeError(f"{where}: {name} is required; received None. {hint}")
    x_dtype = floating(where, name, b, x)
    if b.shape(x) != (length,):
        raise AdvlossValueError(
            f"{where}: {name} must have shape ({length},) {hint}; received shape {b.shape(x)}."
        )
    x = x if x_dtype == dtype else b.cast(x, dtype)
    return b.stop_gradient(x) if detach else x


# ------------------------------------------------------------------------------ the spec


def _compute_dtype(b: Backend, weight: Any) -> str:
    dtype = b.dtype(weight)
    return "float32" if dtype in LOW_PRECISION_DTYPES else dtype


def _matrix(b: Backend, weight: Any, dim: int, out: int, dtype: str) -> Any:
    w = weight if b.dtype(weight) == dtype else b.cast(weight, dtype)
    if dim != 0:
        w = b.moveaxis(w, dim, 0)
    # A matrix already (a dense layer's weight): no reshape, which is one more op eagerly.
    return w if len(b.shape(w)) == 2 else b.reshape(w, (out, -1))


def _normalize(b: Backend, x: Any, eps: float) -> Any:
    """``x / max(‖x‖₂, eps)`` (no gradient flows here: the framework's own norm, one op,
    where the adapter has it)."""
    norm = optional_primitive(b, "l2_norm")  # optional primitive: see backend.Backend
    return x / b.maximum(b.sqrt(b.sum(x * x)) if norm is None else norm(x), eps)


def _power_iteration(b: Backend, w: Any, u: Any, v: Any, n: int, eps: float) -> tuple[Any, Any]:
    """``n`` v-first power-iteration steps on the matrix ``w`` (treated as a constant) from
    ``u`` (already detached): every result is a function of constants, so nothing more is
    detached (one op per stop-gradient in eager PyTorch)."""
    if n == 0:
        return u, v
    w = b.stop_gradient(w)
    w_t = b.moveaxis(w, 0, 1)
    for _ in range(n):
        v = _normalize(b, b.matmul(w_t, u), eps)
        u = _normalize(b, b.matmul(w, v), eps)
    return u, v


def spectral_normalize(
    weight: Any,
    u: Any,
    v: Any,
    *,
    n_power_iterations: int = 1,
    eps: float = SN_EPSILON,
    dim: int = 0,
    backend: str | None = None,
) -> SpectralNormState:
    r"""``weight / σ`` with σ estimated by ``n_power_iterations`` steps of the power iteration.

    $$
    \begin{aligned}
        & W = \operatorname{reshape}(\operatorname{moveaxis}(\text{weight}, \text{dim}, 0),
          (\text{out}, -1)) \\
        & \text{repeat } n \text{ times: } v \leftarrow n(W^\top u),\; u \leftarrow n(W v),
          \quad n(x) = x / \max(\lVert x \rVert, \epsilon) \\
        & \sigma = u^\top W v \quad (\text{gradient through } W \text{ only})
    \end{aligned}
    $$

    Args:
        weight: the weight, any rank >= 1, floating dtype.
        u: the left vector, shape ``(out,)`` with ``out = weight.shape[dim]``.
        v: the right vector, shape ``(weight.size // out,)``.  With ``n_power_iterations >= 1``
            its value is not read (the first step recomputes it from ``u``), but it is the
            state an evaluation call (``n_power_iterations=0``) uses.
        n_power_iterations: steps to run, an int >= 0; 1 while training (the usual choice), 0
            for evaluation (σ from the given ``u``, ``v``).
        eps: ε > 0 of the normalization.
        dim: the weight's output axis (negative values count from the end).
        backend: force a framework instead of detecting it.

    Returns:
        ``SpectralNormState`` ``(weight / σ, σ, new u, new v)``; store ``u`` and ``v`` for
        the next call.

    Examples:
        >>> import numpy as np, advloss
        >>> W = np.array([[3.0, 0.0], [0.0, 1.0]])           # largest singular value 3
        >>> out = advloss.spectral_normalize(W, np.array([0.6, 0.8]), np.zeros(2))
        >>> round(float(out.sigma), 4)                        # one power iteration from u
        2.7714
        >>> out = advloss.spectral_normalize(W, out.u, out.v, n_power_iterations=20)
        >>> round(float(out.sigma), 4), out.weight.round(4).tolist()
        (3.0, [[1.0, 0.0], [0.0, 0.3333]])
    """
    where = "spectral_normalize"
    n = _iterations(where, "n_power_iterations", n_power_iterations)
    eps = _epsilon(where, eps)
    b = backend_for(weight, u, v, backend=backend, where=where)
    dim, out, m = _layout(where, b, weight, dim)
    dtype = _compute_dtype(b, weight)
    hint = f"(the weight has {out} outputs along dim={dim} and {m} inputs)"
    u = _vector(where, b, "u", u, out, dtype, hint)
    v = _vector(where, b, "v", v, m, dtype, hint, detach=n == 0)  # n >= 1: v is recomputed

    w = _matrix(b, weight, dim, out, dtype)
    u, v = _power_iteration(b, w, u, v, n, eps)
    dot = optional_primitive(b, "dot")  # optional primitive: see backend.Backend
    wv = b.matmul(w, v)
    sigma = b.sum(u * wv) if dot is None else dot(u, wv)
    if b.dtype(weight) == dtype:
        normalized = weight / sigma
    else:
        normalized = b.cast(b.cast(weight, dtype) / sigma, b.dtype(weight))
    return SpectralNormState(normalized, sigma, u, v)


def init_state(
    weight: Any,
    key: Any = None,
    *,
    dim: int = 0,
    n_power_iterations: int = 0,
    eps: float = SN_EPSILON,
    backend: str | None = None,
) -> tuple[Any, Any]:
    r"""A starting state ``(u, v)`` for ``spectral_normalize``.

    $$
    u = n(z),\; z \sim \mathcal{N}(0, I_{\text{out}}), \qquad v = n(W^\top u),
    $$

    followed by ``n_power_iterations`` warm-up steps (torch's
    ``parametrizations.spectral_norm`` does 15 at registration).  Both vectors are in the
    computation dtype (float32 for float16/bfloat16 weights) and carry no gradient.

    Args:
        weight: the weight to be normalized.
        key: a ``torch.Generator``, a JAX key, a TF seed (int or shape-(2,) tensor) or
            ``tf.random.Generator``; ``None`` uses the framework's global generator (torch, TF;
            JAX requires a key).
        dim: the weight's output axis, as in ``spectral_normalize``.
        n_power_iterations: warm-up steps, an int >= 0.
        eps: ε > 0 of the normalization.
        backend: force a framework instead of detecting it.

    Examples:
        >>> import torch, advloss
        >>> W = torch.tensor([[3.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
        >>> u, v = advloss.init_state(W, key=torch.Generator().manual_seed(0), n_power_iterations=20)
        >>> [round(abs(float(x)), 4) for x in u]              # the top singular vector
        [1.0, 0.0]
        >>> round(float(advloss.spectral_normalize(W, u, v).sigma), 4)
        3.0
    """
    where = "init_state"
    n = _iterations(where, "n_power_iterations", n_power_iterations)
    eps = _epsilon(where, eps)
    b = backend_for(weight, backend=backend, where=where)
    dim, out, _ = _layout(where, b, weight, dim)
    dtype = _compute_dtype(b, weight)
    u = b.normal(key, (out,), dtype, weight)
    return _state_from_u(b, weight, u, dim, n, eps)


def _state_from_u(b: Backend, weight: Any, u: Any, dim: int, n: int, eps: float) -> tuple[Any, Any]:
    """``(n(u), n(Wᵀ n(u)))`` then ``n`` warm-up steps, for a drawn ``u`` (used by the front
    ends that draw ``u`` with their own random generator, e.g. Keras)."""
    dtype = _compute_dtype(b, weight)
    dim %= len(b.shape(weight))
    out = b.shape(weight)[dim]
    w = b.stop_gradient(_matrix(b, weight, dim, out, dtype))  # type: ignore[arg-type]
    u = b.stop_gradient(u if b.dtype(u) == dtype else b.cast(u, dtype))
    u = _normalize(b, u, eps)
    v = _normalize(b, b.matmul(b.moveaxis(w, 0, 1), u), eps)
    u, v = _power_iteration(b, w, u, v, n, eps)
    return b.stop_gradient(u), b.stop_gradient(v)

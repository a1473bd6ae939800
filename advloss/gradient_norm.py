r"""Gradient normalization (Wu et al. 2021, "Gradient Normalization for Generative Adversarial
Networks", GN-GAN): a discriminator wrapper that makes D piecewise K-Lipschitz with K = 1 by
dividing its output by its own input-gradient norm.

Symbols: ``D`` maps a batch ``x`` of shape ``(N, ...)`` to one value per sample, ``f = D(x)``
of shape ``(N,)`` or ``(N, 1)``; $\nabla_x f_n$ is the gradient of sample ``n``'s output
with respect to sample ``n`` (the gradient of $\sum_n f_n$: samples must not interact in D,
so no batch norm in training mode), its norm taken **per sample over every non-batch
dimension**:

$$
\hat D(x)_n = \frac{f_n}{\lVert \nabla_x f_n \rVert_2 + |f_n|}
$$

so $|\hat D| \le 1$ everywhere.  $\hat D$ stays differentiable with respect to D's parameters
*and* to ``x`` — its input gradient goes through the second derivatives of D — because D's
loss, G's loss (through $\hat D(G(z))$) and a penalty such as R1 on $\hat D$ all differentiate
it; the input gradient is taken with the backend primitive ``input_gradient_through``.  The
norm has gradient 0 at a zero gradient (as ``torch.linalg.vector_norm``); at
$\nabla_x f_n = 0$ and $f_n = 0$ together the quotient is 0/0, as in GN-GAN (no ε).  ``|f|``
has derivative 0 at 0.  Float16/bfloat16 outputs are normalized in float32 (the result is
float32).  Nothing here reads a value on the host.

GN-GAN's reference implementation (basiclab/GNGAN-PyTorch, ``models/gradnorm.py``,
``normalize_gradient``): ``f / (grad_norm + torch.abs(f))`` with ``grad_norm =
torch.norm(torch.flatten(grad, start_dim=1), p=2, dim=1)`` of ``autograd.grad(f, x,
ones_like(f), create_graph=True)`` — the same numbers (``tests/test_gradient_norm.py``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from advloss._checks import batch_shape, floating, not_a_number
from advloss._checks import discriminator as check_discriminator
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.penalties import _input_gradient_through, _safe_sqrt, _squared_norms

__all__ = ["GradientNormalized", "gradient_normalize"]


def _one_per_sample(where: str, b: Backend, discriminator: Any, n: Any) -> Any:
    """``discriminator`` with its output checked: a floating tensor of ``b``'s framework with
    one value per sample, shape ``(N,)`` or ``(N, 1, ...)`` (static shapes: no host sync)."""

    def checked(x: Any) -> Any:
        out = discriminator(x)
        if not b.is_tensor_type(type(out)):
            raise AdvlossTypeError(
                f"{where}: the discriminator must return a {b.name} tensor, one value per "
                f"sample (shape (N,) or (N, 1)); it returned an object of type "
                f"{type(out).__name__}."
            )
        floating(where, "the discriminator's output", b, out)
        shape = tuple(b.shape(out))
        if (
            len(shape) == 0
            or (n is not None and shape[0] is not None and shape[0] != n)
            or any(s != 1 for s in shape[1:])
        ):
            raise AdvlossValueError(
                f"{where}: the discriminator must return one value per sample, shape (N,) or "
                f"(N, 1) with N = {n}; it returned shape {shape}. Gradient normalization "
                f"divides each sample's output by its own gradient norm (a PatchGAN map or a "
                f"batch mean has none)."
            )
        return out

    return checked


class GradientNormalized:
    """The discriminator $\\hat D$ that ``gradient_normalize(D)`` returns: call it on a batch
    ``x`` ``(N, ...)`` for ``(N,)`` or ``(N, 1)`` normalized outputs (``D``'s output shape).

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: (x * x).sum(1)        # f = |x|², ‖∇f‖ = 2|x|: 1 / 3 and 25 / 35
        >>> D_hat = advloss.gradient_normalize(D)
        >>> [round(v, 4) for v in D_hat(torch.tensor([[1.0, 0.0], [3.0, 4.0]])).tolist()]
        [0.3333, 0.7143]
        >>> D_hat.discriminator is D
        True
    """

    __slots__ = ("backend", "discriminator")

    def __init__(self, discriminator: Callable[[Any], Any], backend: str | None = None) -> None:
        check_discriminator("gradient_normalize", discriminator)
        self.discriminator = discriminator
        self.backend = backend

    def __call__(self, x: Any) -> Any:
        where = "gradient_normalize"
        if x is None:
            raise AdvlossTypeError(f"{where}: x is required; received None.")
        not_a_number(where, "x", x)
        b = backend_for(x, backend=self.backend, where=where)
        floating(where, "x", b, x)
        shape = tuple(b.shape(x))
        batch_shape(where, "x", shape)
        d = _one_per_sample(where, b, self.discriminator, shape[0])
        f, grad = _input_gradient_through(where, "x", b, d, x)
        if b.dtype(f) in LOW_PRECISION_DTYPES:
            f = b.cast(f, "float32")
        norms = _safe_sqrt(b, _squared_norms(b, grad))  # (N,), float32 at least
        norms = b.reshape(b.cast(norms, b.dtype(f)), (-1,) + (1,) * (len(b.shape(f)) - 1))
        return f / (norms + (b.relu(f) + b.relu(-f)))

    def __repr__(self) -> str:
        return f"gradient_normalize({self.discriminator!r})"


def gradient_normalize(
    discriminator: Callable[[Any], Any], *, backend: str | None = None
) -> GradientNormalized:
    r"""GN-GAN's gradient-normalized discriminator
    $\hat D(x) = D(x) / (\lVert \nabla_x D(x) \rVert + |D(x)|)$, per sample (module docstring).

    Use $\hat D$ wherever D was: in the losses (``Objective.discriminator(D_hat, ...)``, G's
    loss on $\hat D(G(z))$), in penalties (R1 on $\hat D$), in any framework.  It holds no
    state: ``D``'s parameters stay where they are (an ``nn.Module``, a Keras model,
    ``functools.partial(module.apply, params)`` inside your ``jax.grad``).

    Args:
        discriminator: callable from a batch ``(N, ...)`` to one value per sample, ``(N,)`` or
            ``(N, 1)``; samples must not interact (no batch norm in training mode).
        backend: force a framework instead of detecting it per call.

    Returns:
        ``GradientNormalized``, a callable ``x -> D̂(x)`` of ``D``'s output shape (float32 for
        float16/bfloat16 outputs), with ``|D̂| <= 1``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0]) + 5.0   # ‖∇f‖ = 5: 5 / 10, -20 / 25
        >>> D_hat = advloss.gradient_normalize(D)
        >>> [round(v, 4) for v in D_hat(torch.tensor([[0.0, 0.0], [-3.0, -4.0]])).tolist()]
        [0.5, -0.8]
    """
    return GradientNormalized(discriminator, backend)

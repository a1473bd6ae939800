r"""Combining a main loss with an adversarial loss by a fixed weight or by a gradient ratio (TF-GAN's
``combine_adversarial_loss``), in every framework, eager and compiled.

$$
L = L_{\text{main}} + \operatorname{sg}(w)\, L_{\text{adv}}, \qquad
w = \begin{cases}
  \text{weight\_factor} \\
  \dfrac{\lVert \nabla_x L_{\text{main}} \rVert}
        {r\,\big(\lVert \nabla_x L_{\text{adv}} \rVert + \epsilon\big)} & r = \text{gradient\_ratio}
\end{cases}
$$

with $\operatorname{sg}$ the stop-gradient and $\lVert\cdot\rVert$ the L2 norm over every element.
With the ratio, the adversarial term's gradient is $1/r$ of the main term's in norm, whatever their
scales: pix2pix users weight the cGAN term against L1 this way instead of tuning λ = 100.

TF-GAN takes the gradients with ``tf.gradients``, with respect to the generator's variables,
which fails in eager mode (``tf.gradients`` is graph-only).  Here the losses are *functions* of a
tensor ``x`` and the gradients come from ``Backend.input_gradient`` — a ``tf.GradientTape``, a
``torch.autograd.grad`` (``torch.func.vjp`` under ``torch.compile``), a ``jax.vjp`` — so one call
works eagerly and compiled in all three frameworks.  ``x`` is what you choose: the generated
images (cheap; the natural choice in JAX, where there are no tapes) or, for TF-GAN's own choice,
a tensor that *is* the generator's parameters.  Nothing reads a value on the host.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from advloss._checks import NoAutodiff, flag, floating, hyperparameter, not_a_number, positive
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.errors import AdvlossTypeError, AdvlossValueError

__all__ = ["COMBINE_EPSILON", "combine_adversarial_loss"]

#: TF-GAN's ``gradient_ratio_epsilon``: added to the adversarial gradient's norm.
COMBINE_EPSILON = 1e-6
"""ε added to the adversarial loss's gradient norm in ``combine_adversarial_loss`` (TF-GAN's)."""

Loss = Callable[[Any], Any]


def _gradient(where: str, name: str, b: Backend, fn: Loss, x: Any) -> Any:
    """``∇ₓ Σ fn(x)`` (on a detached copy of ``x``), with clear errors."""
    if not b.has_autodiff:
        raise NoAutodiff(
            f"{where}: gradient_ratio needs the losses' gradients, and the {b.name} backend has "
            f"no automatic differentiation; pass x as a torch, tensorflow or jax tensor, or use "
            f"weight_factor."
        )
    _, grad = b.input_gradient(fn, x)
    if grad is None:
        raise AdvlossValueError(
            f"{where}: {name}(x) does not depend on x, so its gradient is undefined; the "
            f"loss must be computed from its argument."
        )
    return grad


def _norm(b: Backend, g: Any, dtype: str) -> Any:
    """The L2 norm of every element of ``g``, in float32 at least."""
    if b.dtype(g) in LOW_PRECISION_DTYPES:
        g = b.cast(g, "float32")
    return b.cast(b.sqrt(b.sum(g * g)), dtype)


def combine_adversarial_loss(
    main_loss: Loss,
    adversarial_loss: Loss,
    x: Any,
    *,
    weight_factor: float | None = None,
    gradient_ratio: float | None = None,
    epsilon: float = COMBINE_EPSILON,
    return_weight: bool = False,
    backend: str | None = None,
) -> Any:
    r"""$L_{\text{main}}(x) + \operatorname{sg}(w) \cdot L_{\text{adv}}(x)$ with a fixed
    $w$ (``weight_factor``) or $w$ from the ratio of the losses' gradient norms with respect
    to ``x`` (``gradient_ratio``): TF-GAN's ``combine_adversarial_loss``.

    $$
    w = \frac{\lVert \nabla_x \textstyle\sum L_{\text{main}}(x) \rVert}
             {r \big(\lVert \nabla_x \textstyle\sum L_{\text{adv}}(x) \rVert + \epsilon\big)}
    $$

    ($r$ = ``gradient_ratio``, the wanted ratio of the main term's gradient norm to the
    adversarial term's; ε = ``epsilon``, TF-GAN's 1e-6).  $w$ carries no gradient.  Exactly one
    of ``weight_factor`` and ``gradient_ratio`` (TF-GAN's rule).

    Args:
        main_loss: callable ``x -> L_main`` (e.g. ``lambda fake: (fake - target).abs().mean()``).
        adversarial_loss: callable ``x -> L_adv`` (e.g. ``lambda fake:
            loss.generator(D(fake))``), of the same shape as ``main_loss``'s output.
        x: the tensor the gradients are taken with respect to, kept attached: the generated
            images ``G(z)`` (the result backpropagates into G through ``x``), or a parameter
            tensor for TF-GAN's choice (gradients with respect to the generator's variables).
        weight_factor: a fixed $w$ (a Python number).
        gradient_ratio: $r > 0$.
        epsilon: ε >= 0.
        return_weight: also return $w$ (a 0-d tensor, for logging).
        backend: force a framework instead of detecting it.

    Returns:
        The combined loss (the losses' shape, usually 0-d); with ``return_weight``,
        ``(loss, w)``.

    With ``gradient_ratio`` each loss runs twice: once attached to ``x`` (the value to
    differentiate) and once inside the gradient computation, on a detached copy of ``x``.

    Examples:
        >>> import torch, advloss
        >>> fake, target = torch.tensor([[1.0, 2.0]], requires_grad=True), torch.zeros(1, 2)
        >>> main = lambda x: (x - target).abs().mean()          # |grad| = sqrt(2)/2
        >>> adv = lambda x: (3.0 * x).sum()                     # |grad| = 3 sqrt(2)
        >>> loss, w = advloss.combine_adversarial_loss(main, adv, fake, gradient_ratio=1.0, return_weight=True)
        >>> round(w.item(), 4)                                  # (sqrt(2)/2) / (3 sqrt(2) + 1e-6)
        0.1667
        >>> fixed = advloss.combine_adversarial_loss(main, adv, fake, weight_factor=0.5)
        >>> round(fixed.item(), 4)                              # 1.5 + 0.5 * 9
        6.0
    """
    where = "combine_adversarial_loss"
    for name, fn in (("main_loss", main_loss), ("adversarial_loss", adversarial_loss)):
        if not callable(fn):
            raise AdvlossTypeError(
                f"{where}: {name} must be a callable x -> loss (a function of the tensor the "
                f"gradients are taken with respect to); received {type(fn).__name__}. With "
                f"computed losses, wrap them: lambda x: your_loss(x)."
            )
    if (weight_factor is None) == (gradient_ratio is None):
        raise AdvlossValueError(
            f"{where}: give exactly one of weight_factor and gradient_ratio; received "
            f"weight_factor={weight_factor!r}, gradient_ratio={gradient_ratio!r}."
        )
    return_weight = flag(where, "return_weight", return_weight)
    eps = hyperparameter(where, "epsilon", epsilon)
    if eps < 0:
        raise AdvlossValueError(f"{where}: epsilon must be >= 0; received {eps}.")
    not_a_number(where, "x", x)
    b = backend_for(x, backend=backend, where=where)
    floating(where, "x", b, x)
    main = main_loss(x)
    adversarial = adversarial_loss(x)
    for name, value in (("main_loss(x)", main), ("adversarial_loss(x)", adversarial)):
        if not b.is_tensor_type(type(value)):
            raise AdvlossTypeError(
                f"{where}: {name} must return a {b.name} tensor; received {type(value).__name__}."
            )
    dtype = b.dtype(main)
    dtype = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
    if weight_factor is not None:
        factor = hyperparameter(where, "weight_factor", weight_factor)
        weight = b.full(factor, dtype, main)
        if factor == 0.0:  # TF-GAN: the adversarial loss is left out
            return (main, weight) if return_weight else main
    else:
        ratio = positive(where, "gradient_ratio", gradient_ratio)
        g_main = _gradient(where, "main_loss", b, main_loss, x)
        g_adv = _gradient(where, "adversarial_loss", b, adversarial_loss, x)
        norm_main, norm_adv = _norm(b, g_main, dtype), _norm(b, g_adv, dtype)
        weight = b.stop_gradient(norm_main / (ratio * (norm_adv + eps)))
    combined = main + b.cast(weight, b.dtype(adversarial)) * adversarial
    return (combined, weight) if return_weight else combined

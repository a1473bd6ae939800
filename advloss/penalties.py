r"""Gradient penalties on the discriminator: WGAN-GP, R1, R2, DRAGAN and MaxGP, with lazy
application.

Symbols: ``D`` is the discriminator (any callable from a batch to logits), ``x`` real inputs and
``x̃`` generated inputs, each of shape ``(N, ...)``; $g(u) = \nabla_u \sum_i D(u)_i$ is the
gradient of the summed logits with respect to the inputs, so $g(u)_n$ is the gradient of
sample ``n``'s logits with respect to sample ``n`` (samples do not interact in ``D``, unless it
mixes the batch, e.g. batch norm in training mode).  Norms and sums of squares are taken **per
sample, over every non-batch dimension** — a per-pixel norm (``g.norm(dim=1)`` on an image
gradient) is the most repeated bug in the wild.

The gradient is computed with the framework's own autodiff and stays differentiable, so the
penalty backpropagates into the discriminator's parameters:

* PyTorch: ``torch.autograd.grad(..., create_graph=True)`` in eager mode (PyTorch's documented
  pattern, safe under DDP) and a ``torch.func.vjp`` inside ``torch.compile`` (AOTAutograd cannot
  differentiate ``autograd.grad`` twice; the transform's backward is first-order);
* TensorFlow: a nested ``tf.GradientTape``, run while the caller's tape records;
* JAX: ``jax.vjp`` of ``D`` (a function closing over its parameters), inside the caller's
  ``jax.grad``.

No gradient flows into the inputs (they are treated as constants), so a penalty never
backpropagates into the generator.  Nothing here synchronises with the host.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any, ClassVar, cast

from advloss._checks import (
    NoAutodiff,
    batch_shape,
    flag,
    floating,
    interval,
    non_negative,
    not_a_number,
)
from advloss._checks import discriminator as check_discriminator
from advloss._checks import step as check_step
from advloss._config import Configurable
from advloss.backend import LOW_PRECISION_DTYPES, Backend, backend_for, optional_primitive
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = [
    "DRAGAN_VARIANTS",
    "GP_EPSILON",
    "DraganPenalty",
    "GradientPenalty",
    "MaxGradientPenalty",
    "R1Penalty",
    "R2Penalty",
    "dragan_penalty",
    "gradient_penalty",
    "max_gradient_penalty",
    "r1_penalty",
    "r2_penalty",
]

#: Added to the per-sample squared gradient norm under the square root of the WGAN-GP penalty,
#: so its own gradient is finite where the input gradient is exactly zero.
GP_EPSILON = 1e-12
"""ε inside the gradient norm, sqrt(Σ g² + ε): keeps the penalty's gradient finite where g = 0."""

Discriminator = Callable[[Any], Any]


def _inputs(where: str, discriminator: Any, backend: str | None, **tensors: Any) -> Backend:
    check_discriminator(where, discriminator)
    b = backend_for(*tensors.values(), backend=backend, where=where)
    shapes = {}
    for name, x in tensors.items():
        if x is None:
            raise AdvlossTypeError(f"{where}: {name} is required; received None.")
        not_a_number(where, name, x)
        floating(where, name, b, x)
        shape = b.shape(x)
        batch_shape(where, name, shape)
        shapes[name] = shape
    if len(shapes) == 2:
        (na, sa), (nb, sb) = shapes.items()
        if len(sa) != len(sb) or any(
            p is not None and q is not None and p != q for p, q in zip(sa, sb, strict=False)
        ):
            raise AdvlossValueError(
                f"{where}: {na} and {nb} must have the same shape to be interpolated; received "
                f"{sa} and {sb}."
            )
    return b


def _checked_discriminator(
    where: str, b: Backend, discriminator: Discriminator, n: int | None
) -> Discriminator:
    """``discriminator`` with its output checked: one logit (or logit map) per sample, i.e. a
    floating tensor of ``b``'s framework of static shape ``(n, ...)``.  A 0-d output (e.g. the
    batch mean) would scale the penalty by the batch size, silently; a tuple or a number would
    fail deep inside the framework.  Shapes are static, so this costs no host sync."""

    def checked(x: Any) -> Any:
        out = discriminator(x)
        if not b.is_tensor_type(type(out)):
            kind = type(out).__name__
            hint = (
                " (return only the logits, not a tuple of outputs)"
                if isinstance(out, (tuple, list, dict))
                else ""
            )
            raise AdvlossTypeError(
                f"{where}: the discriminator must return a {b.name} tensor of logits, shape "
                f"(N, ...) with N = {n} (the batch size); it returned an object of type {kind}{hint}."
            )
        floating(where, "the discriminator's output (the logits)", b, out)
        shape = b.shape(out)
        if len(shape) == 0 or (n is not None and shape[0] is not None and shape[0] != n):
            raise AdvlossValueError(
                f"{where}: the discriminator must return one value (or map) per sample, shape "
                f"(N, ...) with N = {n} (the batch size); it returned shape {tuple(shape)}. "
                f"A batch mean or a reshaped output mixes samples and scales the penalty."
            )
        return out

    return checked


def _input_gradient(
    where: str, names: str, b: Backend, discriminator: Discriminator, x: Any
) -> Any:
    """``b.input_gradient`` with a clear error where the backend has no autodiff (``names``:
    the arguments ``x`` comes from, e.g. "real" or "real and fake") or the output does not
    depend on the input."""
    if not b.has_autodiff:
        raise NoAutodiff(
            f"{where}: {names} must be {'tensors' if ' and ' in names else 'a tensor'} of a "
            f"framework with automatic differentiation (e.g. torch, tensorflow, jax); received "
            f"{b.name} data: the {b.name} backend "
            f"has no automatic differentiation, so the penalty (which needs the "
            f"discriminator's input gradient) cannot run on it."
        )
    outputs, grad = b.input_gradient(discriminator, x)
    if grad is None:
        raise AdvlossValueError(
            f"{where}: the discriminator's output does not depend on its input, so its input "
            f"gradient is undefined; the penalty needs D(x) computed from x (did D return a "
            f"stored or detached tensor?)."
        )
    return outputs, grad


def _input_gradient_through(where: str, names: str, b: Backend, fn: Any, x: Any) -> Any:
    """``b.input_gradient_through`` (``x`` stays attached: the gradient is differentiable
    with respect to ``x`` and what made it), with clear errors where the backend has no
    autodiff or lacks the optional primitive, or ``fn(x)`` does not depend on ``x``."""
    if not b.has_autodiff:
        raise NoAutodiff(
            f"{where}: {names} must be a tensor of a framework with automatic differentiation "
            f"(e.g. torch, tensorflow, jax); received {b.name} data: the {b.name} backend has "
            f"no automatic differentiation."
        )
    through = optional_primitive(b, "input_gradient_through")  # optional primitive
    if through is None:
        raise AdvlossTypeError(
            f"{where}: the {b.name} backend has no input_gradient_through primitive (the input "
            f"gradient kept differentiable with respect to the input), which this needs; add "
            f"it to the adapter (see advloss.backend.Backend)."
        )
    outputs, grad = through(fn, x)
    if grad is None:
        raise AdvlossValueError(
            f"{where}: the output does not depend on {names}, so its gradient is undefined "
            f"(was the output computed from a stored or detached tensor?)."
        )
    return outputs, grad


def _safe_sqrt(b: Backend, s: Any) -> Any:
    """``sqrt(s)`` of a tensor ``s >= 0`` whose gradient is 0 (not infinite) where ``s = 0``:
    the value and gradient of ``torch.linalg.vector_norm`` at a zero vector, with no ε."""
    positive = s > 0
    return b.where(positive, b.sqrt(b.where(positive, s, 1.0)), 0.0)


def _squared_norms(b: Backend, grad: Any) -> Any:
    """Per-sample squared L2 norm of the gradient, in float32 at least (a float16 sum of squares
    overflows above 256 per element)."""
    if b.dtype(grad) in LOW_PRECISION_DTYPES:
        grad = b.cast(grad, "float32")
    return b.sum_per_sample(grad * grad)


def _is_static_int(step: Any) -> bool:
    return isinstance(step, int) and not isinstance(step, bool)


def _lazy(
    b: Backend,
    where: str,
    step: Any,
    every: int,
    regularize: bool | None,
    compute: Callable[[], tuple[Any, Any]],
    outputs_only: Callable[[], Any],
    dtype: str,
) -> tuple[Any, Any]:
    """``(every * penalty, outputs)`` on steps where ``step % every == 0``, else
    ``(0, outputs)`` — without computing the penalty when the step is known: a Python int, a
    step tensor the backend reads on the host for free (a CPU tensor in eager PyTorch), or a
    caller's ``regularize`` flag; only a step traced in ``jax.jit`` / ``tf.function`` / a
    compiled torch graph goes through the framework's conditional."""
    every = interval(where, "every", every)
    if regularize is not None:
        flag(where, "regularize", regularize)
    if step is not None:
        check_step(where, step)
        if not isinstance(step, int):
            step = int(step) if type(step).__module__ == "numpy" else step
    if every == 1:
        return compute()

    def due() -> tuple[Any, Any]:
        penalty, outputs = compute()
        return penalty * float(every), outputs

    def skip() -> tuple[Any, Any]:
        return b.asarray(0.0, dtype), outputs_only()

    if regularize is not None:  # the caller chose the step's variant (advloss.lazy_step)
        return due() if regularize else skip()
    if step is None:
        raise AdvlossValueError(
            f"{where}: every={every} applies the penalty on every {every}th step and needs the "
            f"current step: pass step=<int or integer tensor> (or regularize=True/False)."
        )
    if not _is_static_int(step):
        host_int = optional_primitive(b, "host_int")  # optional primitive: see backend.Backend
        known = host_int(step) if host_int is not None else None
        step = step if known is None else known
    if _is_static_int(step):
        return due() if step % every == 0 else skip()
    return b.cond(step % every == 0, due, skip)


def _penalty_dtype(b: Backend, x: Any) -> str:
    dtype = b.dtype(x)
    return "float32" if dtype in LOW_PRECISION_DTYPES else dtype


def _explicit_draw(
    where: str, b: Backend, name: str, value: Any, like: Any, shape: tuple[Any, ...], what: str
) -> Any:
    """An explicit random draw (``alpha=``, ``noise=``): a tensor of ``like``'s framework and of
    static shape ``shape``, cast to ``like``'s dtype."""
    if backend_for(like, value, where=where) is not b or tuple(b.shape(value)) != tuple(shape):
        raise AdvlossValueError(
            f"{where}: {name} must be a {b.name} tensor of shape {tuple(shape)} ({what}); "
            f"received shape {b.shape(value)}."
        )
    return b.cast(value, b.dtype(like))


def _interpolates(where: str, b: Backend, real: Any, fake: Any, alpha: Any, key: Any) -> Any:
    r"""$\hat x_n = x_n + \alpha_n (\tilde x_n - x_n)$, one coefficient per sample (drawn from
    ``key`` unless given; the batch size may be unknown at trace time: drawn dynamically)."""
    shape = b.shape(real)
    n = shape[0]
    if alpha is None:
        alpha = b.uniform(key, (n,), b.dtype(real), real)
    else:
        alpha = _explicit_draw(where, b, "alpha", alpha, real, (n,), "one coefficient per sample")
    alpha = b.reshape(alpha, (-1,) + (1,) * (len(shape) - 1))
    return real + alpha * (fake - real)


def gradient_penalty(
    discriminator: Discriminator,
    real: Any,
    fake: Any,
    *,
    weight: float = 10.0,
    center: float = 1.0,
    one_sided: bool = False,
    alpha: Any = None,
    key: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""The WGAN-GP gradient penalty (Gulrajani et al. 2017), per sample.

    $$
    \begin{aligned}
        & \hat x_n = x_n + \alpha_n (\tilde x_n - x_n), \quad \alpha_n \sim U[0, 1) \\
        & \lVert g_n \rVert = \sqrt{\textstyle\sum_{\text{non-batch}} g(\hat x)_n^2 + \epsilon} \\
        & P = \lambda \cdot \operatorname{mean}_n (\lVert g_n \rVert - c)^2
    \end{aligned}
    $$

    ``λ = weight`` (10), ``c = center`` (1; ``center=0`` gives the zero-centred penalty of
    GAN_stability's ``wgangp0``), ``ε = GP_EPSILON = 1e-12`` keeps the penalty's gradient finite
    where ``g = 0``.  ``one_sided=True`` penalises only norms above the centre:
    $\operatorname{relu}(\lVert g_n\rVert - c)^2$ (TF-GAN's ``one_sided``).

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits ``(N, ...)``.
        real, fake: batches of the same shape ``(N, ...)`` and framework.
        weight, center, one_sided: λ, c and the one-sided variant.
        alpha: explicit interpolation coefficients, shape ``(N,)`` (for reproducible
            comparisons); otherwise drawn per sample from ``key``:
        key: a ``torch.Generator``, a JAX key, a TF seed (int or shape-(2,) tensor) or
            ``tf.random.Generator``; ``None`` uses the framework's global generator (torch, TF;
            JAX requires a key).
        step, every: lazy application — the penalty is computed on steps where
            ``step % every == 0`` and multiplied by ``every`` (StyleGAN2's lazy regularization).
        regularize: with ``every > 1``, the caller's decision instead of ``step % every``
            (a Python bool, e.g. the flag of the two compiled variants of
            ``advloss.lazy_step``): ``True`` computes ``every`` × the penalty, ``False`` skips it,
            with no traced conditional; ``None`` (default) decides from ``step``.
        return_outputs: also return ``D(x̂)``.
        backend: force a framework instead of detecting it.

    Returns:
        The penalty, a 0-d tensor (float32 for float16/bfloat16 inputs); with
        ``return_outputs``, ``(penalty, D(x̂))``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> gp = advloss.gradient_penalty(D, real, fake, key=torch.Generator().manual_seed(0))
        >>> round(float(gp), 4)                          # 10 * (5 - 1)^2
        160.0
        >>> round(float(advloss.gradient_penalty(D, real, fake, center=0, alpha=torch.rand(4))), 4)
        250.0
    """
    where = "gradient_penalty"
    weight = non_negative(where, "weight", weight)
    center = non_negative(where, "center", center)
    flag(where, "one_sided", one_sided)
    b = _inputs(where, discriminator, backend, real=real, fake=fake)
    shape = b.shape(real)
    n = shape[0]
    discriminator = _checked_discriminator(where, b, discriminator, n)
    x_hat = _interpolates(where, b, real, fake, alpha, key)

    def compute() -> tuple[Any, Any]:
        outputs, grad = _input_gradient(where, "real and fake", b, discriminator, x_hat)
        norms = b.sqrt(_squared_norms(b, grad) + GP_EPSILON)
        excess = b.relu(norms - center) if one_sided else norms - center
        return weight * b.mean(excess * excess), outputs

    penalty, outputs = _lazy(
        b,
        where,
        step,
        every,
        regularize,
        compute,
        lambda: discriminator(x_hat),
        _penalty_dtype(b, real),
    )
    return (penalty, outputs) if return_outputs else penalty


def gamma_spec(where: str, gamma: Any) -> Any:
    """R1/R2's γ as given to a penalty object: a Python number >= 0, or a schedule of it (a
    schedule object, a config dict ``{"name": "cosine", ...}`` or a compact string such as
    ``"cosine:0.05:0.005:20000"``, see ``advloss.schedules``).  A schedule's values must be
    >= 0: the values named in its config (start, end, value, values) are checked."""
    from advloss.schedules import Constant, get_schedule

    if isinstance(gamma, (str, dict)) or _is_schedule(gamma):
        try:
            schedule = get_schedule(gamma)
        except (AdvlossTypeError, AdvlossValueError) as err:
            raise type(err)(
                f"{where}: gamma must be a number >= 0 or a schedule of it; {err}"
            ) from None
        if isinstance(schedule, Constant):
            return non_negative(where, "gamma", schedule.value)
        config = schedule.config() if callable(getattr(schedule, "config", None)) else {}
        for field in ("value", "start", "end", "values"):
            values = config.get(field)
            for v in values if isinstance(values, (list, tuple)) else [values]:
                if isinstance(v, (int, float)) and not isinstance(v, bool) and v < 0:
                    raise AdvlossValueError(
                        f"{where}: gamma must be >= 0 at every step; the schedule {config} "
                        f"has {field}={values!r}."
                    )
        return schedule
    return non_negative(where, "gamma", gamma)


def _is_schedule(value: Any) -> bool:
    """A schedule object: a callable ``step -> value`` with ``config()`` (not a class)."""
    return (
        callable(value) and not isinstance(value, type) and callable(getattr(value, "config", None))
    )


def _gamma_at(where: str, b: Backend, gamma: Any, step: Any, dtype: str) -> Any:
    """γ for this call: a Python float, or a 0-d tensor of ``dtype`` with no gradient (a
    schedule evaluated at a tensor ``step`` in ``dtype``, or a tensor given as ``gamma``).
    Nothing is read on the host; a tensor γ is not checked to be >= 0 (that would be a host
    read)."""
    if isinstance(gamma, float):
        return gamma
    if _is_schedule(gamma):
        if step is None:
            raise AdvlossValueError(
                f"{where}: gamma is a schedule ({gamma!r:.80}) and needs the training step: pass "
                f"step=<int or integer tensor>."
            )
        check_step(where, step)
        if not b.is_tensor_type(type(step)):  # a Python (or NumPy) int: a Python float
            return float(gamma(int(step)))
        from advloss.schedules import Schedule

        compute = "float64" if dtype == "float64" else "float32"
        value = gamma(step, dtype=compute) if isinstance(gamma, Schedule) else gamma(step)
        return b.cast(b.stop_gradient(value), dtype)
    if not b.is_tensor_type(type(gamma)) or tuple(b.shape(gamma)) != ():
        shown = (
            f"shape {tuple(b.shape(gamma))}"
            if b.is_tensor_type(type(gamma))
            else f"{gamma!r:.60} of type {type(gamma).__name__}"
        )
        raise AdvlossTypeError(
            f"{where}: gamma must be a number >= 0, a schedule of it, or a 0-d {b.name} "
            f"tensor; received {shown}."
        )
    floating(where, "gamma", b, gamma)
    return b.cast(b.stop_gradient(gamma), dtype)


def _zero_centred(
    where: str,
    discriminator: Discriminator,
    inputs: Any,
    name: str,
    gamma: Any,
    step: Any,
    every: int,
    regularize: bool | None,
    return_outputs: bool,
    backend: str | None,
) -> Any:
    b = _inputs(where, discriminator, backend, **{name: inputs})
    if not b.is_tensor_type(type(gamma)):
        gamma = gamma_spec(where, gamma)
    gamma = _gamma_at(where, b, gamma, step, _penalty_dtype(b, inputs))
    discriminator = _checked_discriminator(where, b, discriminator, b.shape(inputs)[0])

    def compute() -> tuple[Any, Any]:
        outputs, grad = _input_gradient(where, name, b, discriminator, inputs)
        return (0.5 * gamma) * b.mean(_squared_norms(b, grad)), outputs

    penalty, outputs = _lazy(
        b,
        where,
        step,
        every,
        regularize,
        compute,
        lambda: discriminator(inputs),
        _penalty_dtype(b, inputs),
    )
    return (penalty, outputs) if return_outputs else penalty


def r1_penalty(
    discriminator: Discriminator,
    real: Any,
    *,
    gamma: Any = 10.0,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""The R1 penalty (Mescheder et al. 2018): zero-centred gradient penalty on real data.

    $$
    R_1 = \frac{\gamma}{2} \operatorname{mean}_n \textstyle\sum_{\text{non-batch}} g(x)_n^2
    $$

    ``γ = gamma`` with StyleGAN2's definition (10 by default; StyleGAN2-ADA's ``--gamma``);
    StudioGAN's ``r1_lambda`` and R3GAN's ``Gamma`` are the same γ, GAN_stability's
    ``reg_param`` is γ/2.  γ may change during training: pass a schedule
    (``advloss.schedules.Cosine(start=0.05, end=0.005, steps=T)``, R3GAN's decay, or its
    config dict or compact string ``"cosine:0.05:0.005:T"``), evaluated at ``step`` — a
    Python float for a Python step, a tensor for a tensor step (traced, no host sync) — or
    γ itself as a 0-d tensor (used with no gradient; not checked to be >= 0, which would
    need a host read).

    With ``return_outputs=True`` it returns ``(penalty, D(real))``: the logits of the forward
    pass the penalty needed, so the adversarial loss can reuse them instead of running
    ``D(real)`` again (gradients of the loss flow through them normally).  With ``every=k`` the
    penalty is applied on steps where ``step % k == 0`` and multiplied by ``k`` (lazy
    regularization, StyleGAN2 uses k = 16); on the other steps ``(0, D(real))``.

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits.
        real: real inputs ``(N, ...)``.
        gamma: γ >= 0: a number, a schedule of it (needs ``step``) or a 0-d tensor.
        step, every: lazy application (see above), and the step of a scheduled γ; ``step``
            may be a Python int or an integer tensor (a CPU tensor is read on the host in eager
            PyTorch, which is free; inside ``jax.jit``/``tf.function``/``torch.compile`` a
            traced step selects with the framework's conditional).
        regularize: the caller's decision instead of ``step % every``, as in
            ``gradient_penalty`` (see ``advloss.lazy_step``).
        return_outputs: also return ``D(real)``.
        backend: force a framework instead of detecting it.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> round(float(advloss.r1_penalty(D, real)), 4)     # 10/2 * (3^2 + 4^2)
        125.0
        >>> [round(float(advloss.r1_penalty(D, real, every=4, step=s)), 4) for s in range(3)]
        [500.0, 0.0, 0.0]
        >>> gamma = advloss.schedules.Cosine(start=0.05, end=0.005, steps=100)   # R3GAN's decay
        >>> [round(float(advloss.r1_penalty(D, real, gamma=gamma, step=s)), 5) for s in (0, 50, 100)]
        [0.625, 0.34375, 0.0625]
    """
    return _zero_centred(
        "r1_penalty",
        discriminator,
        real,
        "real",
        gamma,
        step,
        every,
        regularize,
        return_outputs,
        backend,
    )


def r2_penalty(
    discriminator: Discriminator,
    fake: Any,
    *,
    gamma: Any = 10.0,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""The R2 penalty (Mescheder et al. 2018): R1's zero-centred penalty on generated data.

    $$
    R_2 = \frac{\gamma}{2} \operatorname{mean}_n \textstyle\sum_{\text{non-batch}} g(\tilde x)_n^2
    $$

    Arguments as in ``r1_penalty``, with ``fake`` in place of ``real`` (it is treated as a
    constant: no gradient reaches the generator).

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> round(float(advloss.r2_penalty(D, fake, gamma=1.0)), 4)   # 1/2 * (3^2 + 4^2)
        12.5
    """
    return _zero_centred(
        "r2_penalty",
        discriminator,
        fake,
        "fake",
        gamma,
        step,
        every,
        regularize,
        return_outputs,
        backend,
    )


def lazy_adam(
    lr: float, betas: tuple[float, float], every: int
) -> tuple[float, tuple[float, float]]:
    r"""Adam's learning rate and betas for lazy regularization as a *separate optimizer step*
    (StyleGAN2's schedule): with the penalty applied every $k$ steps in its own step, the
    optimizer takes $k + 1$ steps per $k$ minibatches, and StyleGAN2 compensates with

    $$
    c = \frac{k}{k + 1}, \qquad \mathrm{lr}' = c\,\mathrm{lr}, \qquad
    \beta_i' = \beta_i^{\,c}.
    $$

    Use it only with that schedule. advloss's own lazy form (``every=k`` on ``r1_penalty``,
    ``r2_penalty``, ``gradient_penalty`` or an Objective term) adds $k$ times the penalty to the
    adversarial loss of every $k$-th step — one optimizer step per minibatch — and needs no
    correction. Framework-neutral: pass the results to ``torch.optim.Adam``,
    ``keras.optimizers.Adam`` (``beta_1``, ``beta_2``) or ``optax.adam`` (``b1``, ``b2``).

    Args:
        lr: the base learning rate, > 0.
        betas: Adam's $(\beta_1, \beta_2)$, each in [0, 1).
        every: the regularization interval $k$, an int >= 1 (1: the penalty every step, in
            its own step: $c = 1/2$).

    Returns:
        ``(lr', (beta1', beta2'))``.

    Examples:
        >>> import advloss
        >>> lr, betas = advloss.lazy_adam(0.002, (0.0, 0.99), every=16)   # StyleGAN2's D
        >>> print(f"{lr:.6f} {betas[0]:.1f} {betas[1]:.6f}")
        0.001882 0.0 0.990585
    """
    where = "lazy_adam"
    k = interval(where, "every", every)
    if (
        isinstance(lr, bool)
        or not isinstance(lr, (int, float))
        or not (math.isfinite(lr) and lr > 0)
    ):
        raise AdvlossValueError(f"{where}: lr must be a finite number > 0; received {lr!r}.")
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise AdvlossTypeError(f"{where}: betas must be a pair (beta1, beta2); received {betas!r}.")
    for name, beta in zip(("betas[0]", "betas[1]"), betas, strict=True):
        if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta < 1:
            raise AdvlossValueError(f"{where}: {name} must lie in [0, 1); received {beta!r}.")
    c = k / (k + 1)
    return float(lr) * c, (float(betas[0]) ** c, float(betas[1]) ** c)


#: The DRAGAN perturbation conventions of ``dragan_penalty(variant=...)``: ``"studiogan"``
#: (StudioGAN's ``cal_dra_penalty``, the default) and ``"compare_gan"`` (compare_gan's
#: ``dragan_penalty``).
DRAGAN_VARIANTS = ("studiogan", "compare_gan")
"""The DRAGAN perturbation conventions: StudioGAN's (the default) and compare_gan's."""

#: ε inside the gradient norm of compare_gan's DRAGAN penalty (``variant="compare_gan"``).
_COMPARE_GAN_EPSILON = 1e-4


def _variant(where: str, value: Any) -> str:
    if not isinstance(value, str) or value not in DRAGAN_VARIANTS:
        raise AdvlossValueError(
            f"{where}: variant must be one of {list(DRAGAN_VARIANTS)}; received {value!r}."
        )
    return value


def _batch_std(where: str, b: Backend, x: Any, unbiased: bool) -> Any:
    """The standard deviation of all elements of the batch, in float32 at least: with ``n - 1``
    in the denominator (``unbiased``, torch's ``x.std()``) or ``n`` (``tf.nn.moments``).  The
    element count is static when the shape is, else counted in the graph."""
    if b.dtype(x) in LOW_PRECISION_DTYPES:
        x = b.cast(x, "float32")
    d = x - b.mean(x)
    var = b.mean(d * d)
    if not unbiased:
        return b.sqrt(var)
    shape = b.shape(x)
    if all(s is not None for s in shape):
        # static here; cast, not a generator, which torch.compile cannot trace
        n = math.prod(cast("tuple[int, ...]", shape))
        if n < 2:
            raise AdvlossValueError(
                f"{where}: the perturbation's scale is the standard deviation of the real "
                f"batch, which needs at least 2 elements; received shape {tuple(shape)}."
            )
        return b.sqrt(var * (n / (n - 1)))
    n = b.sum(x * 0.0 + 1.0)  # the run-time element count (tf.function, unknown batch size)
    return b.sqrt(var * n / (n - 1.0))


def _draw_keys(b: Backend, key: Any, needed: list[str]) -> dict[str, Any]:
    """One random source per draw not given explicitly (``key`` split when there are two)."""
    if len(needed) > 1 and key is not None:
        return dict(zip(needed, b.split_key(key, len(needed)), strict=True))
    return dict.fromkeys(needed, key)


def dragan_penalty(
    discriminator: Discriminator,
    real: Any,
    *,
    weight: float = 10.0,
    center: float = 1.0,
    variant: str = "studiogan",
    alpha: Any = None,
    noise: Any = None,
    key: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""The DRAGAN gradient penalty (Kodali et al. 2017): WGAN-GP's penalty at randomly
    perturbed real samples, so D is smooth around the data.

    With $s$ the standard deviation of all elements of the real batch and $u$ uniform noise of
    the batch's shape, the penalty point is, for ``variant="studiogan"`` (the default:
    StudioGAN's ``cal_dra_penalty``)

    $$
    \hat x_n = x_n + \alpha_n \cdot \tfrac12 s \cdot u_n, \quad
    \alpha_n \sim U[0, 1), \; u \sim U[0, 1)^{\text{shape}}, \;
    s = \sqrt{\textstyle\frac{1}{m-1}\sum (x - \bar x)^2}
    $$

    and for ``variant="compare_gan"`` (compare_gan's ``dragan_penalty``: no $\alpha$, centred
    noise, population standard deviation, clipped to the image range [0, 1])

    $$
    \hat x = \operatorname{clip}\big(x + s\,(u - \tfrac12),\, 0,\, 1\big), \quad
    s = \sqrt{\textstyle\frac1m\sum (x - \bar x)^2},
    $$

    $m$ the number of elements of the batch.  Then, as WGAN-GP,
    $P = \lambda \operatorname{mean}_n (\lVert g(\hat x)_n \rVert - c)^2$ with
    $\lVert g_n \rVert = \sqrt{\sum g_n^2 + \epsilon}$, $\epsilon$ = ``GP_EPSILON`` (studiogan)
    or compare_gan's $10^{-4}$.  ``λ = weight`` (10), ``c = center`` (1).  The perturbation is
    a constant: no gradient flows into ``real`` or its standard deviation.

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits ``(N, ...)``.
        real: real inputs ``(N, ...)`` (at least 2 elements).
        weight, center: λ and c.
        variant: ``"studiogan"`` or ``"compare_gan"`` (``DRAGAN_VARIANTS``).
        alpha: explicit coefficients, shape ``(N,)`` (``"studiogan"`` only); and
        noise: explicit U[0, 1) noise of ``real``'s shape — otherwise drawn from
        key: a ``torch.Generator``, a JAX key, a TF seed or ``tf.random.Generator`` (split over
            the two draws); ``None`` uses the framework's global generator (JAX needs a key).
        step, every, regularize: lazy application, as in ``gradient_penalty``.
        return_outputs: also return ``D(x̂)``.
        backend: force a framework instead of detecting it.

    Returns:
        The penalty, a 0-d tensor (float32 for float16/bfloat16 inputs); with
        ``return_outputs``, ``(penalty, D(x̂))``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real = torch.rand(4, 2)
        >>> dragan = advloss.dragan_penalty(D, real, key=torch.Generator().manual_seed(0))
        >>> round(float(dragan), 4)                      # 10 * (5 - 1)^2, wherever x̂ lies
        160.0
    """
    where = "dragan_penalty"
    weight = non_negative(where, "weight", weight)
    center = non_negative(where, "center", center)
    variant = _variant(where, variant)
    b = _inputs(where, discriminator, backend, real=real)
    shape = b.shape(real)
    n = shape[0]
    dtype = b.dtype(real)
    discriminator = _checked_discriminator(where, b, discriminator, n)
    studiogan = variant == "studiogan"
    if alpha is not None and not studiogan:
        raise AdvlossValueError(
            f"{where}: alpha is only for variant='studiogan' (compare_gan's perturbation has no "
            f"per-sample coefficient); received alpha with variant={variant!r}."
        )
    # drawn in the order of draw_specs (alpha, then noise): a shared generator is consumed so
    needed = [k for k, v in (("alpha", alpha), ("noise", noise)) if v is None]
    keys = _draw_keys(b, key, needed if studiogan else [k for k in needed if k == "noise"])
    if studiogan:
        if alpha is None:
            alpha = b.uniform(keys["alpha"], (n,), dtype, real)
        else:
            alpha = _explicit_draw(where, b, "alpha", alpha, real, (n,), "one per sample")
        alpha = b.reshape(alpha, (-1,) + (1,) * (len(shape) - 1))
    if noise is None:
        noise = b.uniform(keys["noise"], shape, dtype, real)
    else:
        noise = _explicit_draw(where, b, "noise", noise, real, shape, "U[0, 1) noise like real")
    s = b.cast(_batch_std(where, b, real, unbiased=studiogan), dtype)
    if studiogan:
        x_hat = real + alpha * ((0.5 * s) * noise)
        eps = GP_EPSILON
    else:
        x_hat = b.minimum(b.maximum(real + s * (noise - 0.5), 0.0), 1.0)
        eps = _COMPARE_GAN_EPSILON

    def compute() -> tuple[Any, Any]:
        outputs, grad = _input_gradient(where, "real", b, discriminator, x_hat)
        excess = b.sqrt(_squared_norms(b, grad) + eps) - center
        return weight * b.mean(excess * excess), outputs

    penalty, outputs = _lazy(
        b,
        where,
        step,
        every,
        regularize,
        compute,
        lambda: discriminator(x_hat),
        _penalty_dtype(b, real),
    )
    return (penalty, outputs) if return_outputs else penalty


def _batch_max(where: str, b: Backend, v: Any) -> Any:
    """The largest entry of a vector of static length, as a 0-d tensor, by a tree of pairwise
    maxima (the primitive set has no max reduction; slicing uses the tensors' own indexing).
    Its gradient goes to the largest entry."""
    n = b.shape(v)[0]
    if n is None:
        raise AdvlossValueError(
            f"{where}: the maximum over the batch needs a batch size known when tracing; "
            f"received a batch of unknown size (e.g. tf.function with a None dimension)."
        )
    rest = None
    while n > 1:
        if n % 2:
            last = v[n - 1 : n]
            rest = last if rest is None else b.maximum(rest, last)
            n -= 1
            v = v[:n]
        half = n // 2
        v = b.maximum(v[:half], v[half:n])
        n = half
    if rest is not None:
        v = b.maximum(v, rest)
    return b.reshape(v, ())


def max_gradient_penalty(
    discriminator: Discriminator,
    real: Any,
    fake: Any,
    *,
    weight: float = 10.0,
    alpha: Any = None,
    key: Any = None,
    step: Any = None,
    every: int = 1,
    regularize: bool | None = None,
    return_outputs: bool = False,
    backend: str | None = None,
) -> Any:
    r"""The maximum gradient penalty (MaxGP, Zhou et al. 2019, "Lipschitz GANs"; StudioGAN's
    ``cal_maxgrad_penalty``): the largest squared input-gradient norm over the batch.

    $$
    \hat x_n = x_n + \alpha_n (\tilde x_n - x_n), \quad \alpha_n \sim U[0, 1), \qquad
    P = \lambda \max_n \textstyle\sum_{\text{non-batch}} g(\hat x)_n^2
    $$

    ``λ = weight`` (10, StudioGAN's ``maxgp_lambda`` in its LGAN config).  The interpolation is
    WGAN-GP's (StudioGAN writes $\alpha x + (1 - \alpha)\tilde x$: its α is advloss's
    $1 - \alpha$).  The gradient of the maximum reaches only the sample with the largest norm.
    The maximum is over this call's batch (under DDP, each process's own).

    Args:
        discriminator: callable from a batch ``(N, ...)`` to logits ``(N, ...)``.
        real, fake: batches of the same shape ``(N, ...)``, ``N`` known when tracing.
        weight: λ >= 0.
        alpha, key: explicit coefficients ``(N,)``, or their random source, as in
            ``gradient_penalty``.
        step, every, regularize: lazy application, as in ``gradient_penalty``.
        return_outputs: also return ``D(x̂)``.
        backend: force a framework instead of detecting it.

    Returns:
        The penalty, a 0-d tensor (float32 for float16/bfloat16 inputs); with
        ``return_outputs``, ``(penalty, D(x̂))``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: 0.5 * (x * x).sum(1)          # the gradient at x is x itself
        >>> real, fake = torch.zeros(3, 2), torch.tensor([[1.0, 0.0], [0.0, 2.0], [3.0, 4.0]])
        >>> round(advloss.max_gradient_penalty(D, real, fake, alpha=torch.ones(3)).item(), 4)
        250.0
    """
    where = "max_gradient_penalty"
    weight = non_negative(where, "weight", weight)
    b = _inputs(where, discriminator, backend, real=real, fake=fake)
    discriminator = _checked_discriminator(where, b, discriminator, b.shape(real)[0])
    x_hat = _interpolates(where, b, real, fake, alpha, key)

    def compute() -> tuple[Any, Any]:
        outputs, grad = _input_gradient(where, "real and fake", b, discriminator, x_hat)
        return weight * _batch_max(where, b, _squared_norms(b, grad)), outputs

    penalty, outputs = _lazy(
        b,
        where,
        step,
        every,
        regularize,
        compute,
        lambda: discriminator(x_hat),
        _penalty_dtype(b, real),
    )
    return (penalty, outputs) if return_outputs else penalty


# ------------------------------------------------------------------------------------------
# Penalties as values (for composition and configuration).


@dataclasses.dataclass(frozen=True, kw_only=True)
class _Penalty(Configurable):
    """Shared by the built-in penalty values.  Besides their own call signature they implement
    the penalty protocol of ``advloss.Objective`` (and of plugins, see ``docs/plugins.md``):

    * ``term(discriminator, real, fake, *, step=None, key=None, draws=None)`` → the weighted
      penalty, a 0-d tensor;
    * ``draw_specs(n_real, n_fake)`` → the random numbers ``term`` consumes;
    * ``term_and_logits(...)`` → ``(penalty, D(real) or None, D(fake) or None)``.

    A template: ``term_and_logits`` is written once, here, from two class attributes — the
    batches the penalty's ``__call__`` takes (``_batches``) and the batch whose logits its
    forward pass computes (``_logits_of``) — and the draws of ``draw_specs``."""

    name: ClassVar[str] = ""
    #: The batches ``__call__`` takes after the discriminator, in order.
    _batches: ClassVar[tuple[str, ...]] = ("real", "fake")
    #: "real" or "fake": the batch ``D`` runs on in the penalty's forward pass, whose logits
    #: the adversarial loss can reuse; None where the penalty runs ``D`` on other inputs.
    _logits_of: ClassVar[str | None] = None
    every: int = 1

    def __post_init__(self) -> None:
        interval(type(self).__name__, "every", self.every)

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        """The random draws ``term`` consumes, ``{name: (distribution, shape)}`` with
        distribution ``"uniform"`` (U[0, 1)) or ``"normal"`` (N(0, 1)) and ``None`` for a size
        unknown at trace time; explicit values can be passed as ``draws={name: tensor}``.
        ``real_shape``/``fake_shape``: the batches' whole shapes, for draws shaped like a batch
        (DRAGAN's noise); ``Objective`` passes them to a ``draw_specs`` that accepts them."""
        return {}

    def term(
        self,
        discriminator: Discriminator,
        real: Any,
        fake: Any,
        *,
        step: Any = None,
        key: Any = None,
        draws: Any = None,
        regularize: bool | None = None,
    ) -> Any:
        """The penalty on a real and a fake batch (the uniform protocol of every penalty)."""
        return self.term_and_logits(
            discriminator, real, fake, step=step, key=key, draws=draws, regularize=regularize
        )[0]

    def term_and_logits(
        self,
        discriminator: Discriminator,
        real: Any,
        fake: Any,
        *,
        step: Any = None,
        key: Any = None,
        draws: Any = None,
        regularize: bool | None = None,
    ) -> tuple[Any, Any, Any]:
        """``(penalty, D(real) or None, D(fake) or None)``: the penalty and the logits its
        forward pass produced, for the adversarial loss to reuse (R1 runs ``D(real)``, R2
        ``D(fake)``; the gradient penalty runs ``D`` on interpolates, so returns neither).
        ``key`` is the randomness of the draws of ``draw_specs`` not given in ``draws``;
        ``regularize`` decides a lazy penalty's step instead of ``step`` (``gradient_penalty``)."""
        batches = {"real": real, "fake": fake}
        options: dict[str, Any] = {}
        specs = self.draw_specs(None, None)
        if specs:
            given = draws or {}
            options = {name: given.get(name) for name in specs}
            options["key"] = key
        value, outputs = self(  # type: ignore[operator]
            discriminator,
            *(batches[name] for name in self._batches),
            step=step,
            regularize=regularize,
            return_outputs=True,
            **options,
        )
        side = self._logits_of
        return value, outputs if side == "real" else None, outputs if side == "fake" else None


@dataclasses.dataclass(frozen=True, kw_only=True)
class GradientPenalty(_Penalty):
    """``gradient_penalty`` with its hyperparameters bound; call with
    ``(discriminator, real, fake, *, alpha=None, key=None, step=None, return_outputs=False)``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> gp = advloss.GradientPenalty(weight=1.0)
        >>> round(float(gp(D, real, fake, key=torch.Generator().manual_seed(0))), 4)
        16.0
    """

    name: ClassVar[str] = "gp"
    weight: float = 10.0
    center: float = 1.0
    one_sided: bool = False

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        object.__setattr__(self, "center", non_negative(where, "center", self.center))
        flag(where, "one_sided", self.one_sided)
        super().__post_init__()

    def __call__(self, discriminator: Discriminator, real: Any, fake: Any, **options: Any) -> Any:
        return gradient_penalty(
            discriminator,
            real,
            fake,
            weight=self.weight,
            center=self.center,
            one_sided=self.one_sided,
            every=self.every,
            **options,
        )

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        return {"alpha": ("uniform", (n_real,))}


@dataclasses.dataclass(frozen=True, kw_only=True)
class _ZeroCentredPenalty(_Penalty):
    """R1 and R2: ``gamma`` (a number or a schedule of it, see ``gamma_spec``) and one batch,
    whose logits the loss reuses."""

    gamma: Any = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "gamma", gamma_spec(type(self).__name__, self.gamma))
        super().__post_init__()


@dataclasses.dataclass(frozen=True, kw_only=True)
class R1Penalty(_ZeroCentredPenalty):
    """``r1_penalty`` with ``gamma`` and ``every`` bound; call with
    ``(discriminator, real, *, step=None, return_outputs=False)``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> r1 = advloss.R1Penalty(gamma=2.0, every=4)         # lazy: 4x the penalty every 4th step
        >>> [round(float(r1(D, real, step=s)), 4) for s in range(3)]
        [100.0, 0.0, 0.0]
    """

    name: ClassVar[str] = "r1"
    _batches: ClassVar[tuple[str, ...]] = ("real",)
    _logits_of: ClassVar[str | None] = "real"

    def __call__(self, discriminator: Discriminator, real: Any, **options: Any) -> Any:
        return r1_penalty(discriminator, real, gamma=self.gamma, every=self.every, **options)


@dataclasses.dataclass(frozen=True, kw_only=True)
class R2Penalty(_ZeroCentredPenalty):
    """``r2_penalty`` with ``gamma`` and ``every`` bound; call with
    ``(discriminator, fake, *, step=None, return_outputs=False)``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> round(float(advloss.R2Penalty(gamma=1.0)(D, fake)), 4)
        12.5
    """

    name: ClassVar[str] = "r2"
    _batches: ClassVar[tuple[str, ...]] = ("fake",)
    _logits_of: ClassVar[str | None] = "fake"

    def __call__(self, discriminator: Discriminator, fake: Any, **options: Any) -> Any:
        return r2_penalty(discriminator, fake, gamma=self.gamma, every=self.every, **options)


@dataclasses.dataclass(frozen=True, kw_only=True)
class DraganPenalty(_Penalty):
    """``dragan_penalty`` with its hyperparameters bound; call with
    ``(discriminator, real, *, alpha=None, noise=None, key=None, step=None,
    return_outputs=False)``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere: norm 5
        >>> dragan = advloss.DraganPenalty(weight=1.0, variant="compare_gan")
        >>> round(float(dragan(D, torch.rand(4, 2), key=torch.Generator().manual_seed(0))), 4)
        16.0001
        >>> sorted(dragan.draw_specs(4, 4, real_shape=(4, 2)).items())
        [('noise', ('uniform', (4, 2)))]
    """

    name: ClassVar[str] = "dragan"
    _batches: ClassVar[tuple[str, ...]] = ("real",)
    weight: float = 10.0
    center: float = 1.0
    variant: str = "studiogan"

    def __post_init__(self) -> None:
        where = type(self).__name__
        object.__setattr__(self, "weight", non_negative(where, "weight", self.weight))
        object.__setattr__(self, "center", non_negative(where, "center", self.center))
        _variant(where, self.variant)
        super().__post_init__()

    def __call__(self, discriminator: Discriminator, real: Any, **options: Any) -> Any:
        return dragan_penalty(
            discriminator,
            real,
            weight=self.weight,
            center=self.center,
            variant=self.variant,
            every=self.every,
            **options,
        )

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        """``alpha`` (``(N,)``, studiogan only) and ``noise`` (the real batch's shape; ``(N,)``
        followed by nothing when the shape is not given)."""
        shape = (n_real,) if real_shape is None else tuple(real_shape)
        specs: dict[str, tuple[str, tuple[int | None, ...]]] = {}
        if self.variant == "studiogan":
            specs["alpha"] = ("uniform", (shape[0],))
        specs["noise"] = ("uniform", shape)
        return specs


@dataclasses.dataclass(frozen=True, kw_only=True)
class MaxGradientPenalty(_Penalty):
    """``max_gradient_penalty`` with its hyperparameters bound; call with
    ``(discriminator, real, fake, *, alpha=None, key=None, step=None, return_outputs=False)``.

    Examples:
        >>> import torch, advloss
        >>> D = lambda x: x @ torch.tensor([3.0, 4.0])   # the gradient is (3, 4) everywhere
        >>> real, fake = torch.zeros(4, 2), torch.ones(4, 2)
        >>> maxgp = advloss.MaxGradientPenalty(weight=1.0)
        >>> round(float(maxgp(D, real, fake, key=torch.Generator().manual_seed(0))), 4)
        25.0
    """

    name: ClassVar[str] = "maxgp"
    weight: float = 10.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "weight", non_negative(type(self).__name__, "weight", self.weight))
        super().__post_init__()

    def __call__(self, discriminator: Discriminator, real: Any, fake: Any, **options: Any) -> Any:
        return max_gradient_penalty(
            discriminator, real, fake, weight=self.weight, every=self.every, **options
        )

    def draw_specs(
        self,
        n_real: int | None,
        n_fake: int | None,
        *,
        real_shape: tuple[int | None, ...] | None = None,
        fake_shape: tuple[int | None, ...] | None = None,
    ) -> dict[str, tuple[str, tuple[int | None, ...]]]:
        return {"alpha": ("uniform", (n_real,))}


_register_builtins(
    "penalty", GradientPenalty, R1Penalty, R2Penalty, DraganPenalty, MaxGradientPenalty
)

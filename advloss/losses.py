r"""The adversarial losses, written once against the primitive set of ``advloss.backend``.

Symbols used in every docstring here: $r = D(x)$ are the discriminator's raw outputs
(logits) on real data and $f = D(G(z))$ on generated data, each a tensor of shape
``(N, ...)`` — one logit per sample ``(N,)`` or ``(N, 1)``, or a PatchGAN map ``(N, 1, H, W)``.
$\sigma$ is the logistic sigmoid and $\operatorname{softplus}(x) = \log(1 + e^x)$,
so $-\log\sigma(x) = \operatorname{softplus}(-x)$ and
$-\log(1 - \sigma(x)) = \operatorname{softplus}(x)$.

Reductions.  Each *term* (the real part and the fake part of a discriminator loss) is reduced on
its own: ``reduction="mean"`` (default) averages over **all** elements of the term, so a PatchGAN
map gives the same value as its flattened form and real and fake batches may differ in size;
``"sum"`` adds them up; ``"none"`` returns the elementwise values (for a discriminator loss the real
and fake terms added elementwise, which needs equal shapes), so that ``loss(reduction="none")``
reduced by mean or sum equals ``loss(reduction="mean")`` or ``loss(reduction="sum")``.

Weights.  ``weights`` (and, for the discriminator, ``real_weights``/``fake_weights``) multiply the
elementwise values before the reduction; they must broadcast *to* the logits' shape (``(N, 1)`` or
``(N, 1, 1, 1)`` for one weight per sample) and are cast to the computation dtype.  The mean then
divides by the number of elements, as ``torch.nn.functional.binary_cross_entropy_with_logits(weight=)``
and Keras' ``sample_weight`` do (TF-GAN's default divides by the number of non-zero weights; see
``docs/spec.md``).

Precision.  float16 and bfloat16 logits are computed in float32 and the loss is returned in float32,
as ``torch.autocast`` does for its loss functions: a least-squares loss of logits near 1e3 would
overflow float16, and sums over large batches lose most of bfloat16's 8 bits.  Gradients flow back
to the low-precision logits in their own dtype.  float32 and float64 are computed and returned in
their own dtype.  No function here synchronises with the host.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

from advloss._checks import FLOATING_DTYPES as _FLOATING_DTYPES
from advloss._checks import batch_shape as _batch_shape
from advloss._checks import floating as _floating
from advloss._checks import hyperparameter as _hyperparameter
from advloss._checks import not_a_number as _not_a_number
from advloss._config import Configurable
from advloss.backend import _BACKEND_OF_TYPE, LOW_PRECISION_DTYPES, Backend, backend_for
from advloss.backend import square as _square
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins

__all__ = [
    "AdversarialLoss",
    "HingeLoss",
    "LeastSquaresLoss",
    "MinimaxLoss",
    "NonSaturatingLoss",
    "Reduction",
    "RelativisticAverageLoss",
    "RelativisticPairingHingeLoss",
    "RelativisticPairingLeastSquaresLoss",
    "RelativisticPairingLoss",
    "WassersteinLoss",
]

Reduction = Literal["mean", "sum", "none"]
_CAST_LOGITS = "Logits are the discriminator's raw outputs; cast them, e.g. x.float()."
_REDUCTIONS = ("mean", "sum", "none")


@runtime_checkable
class AdversarialLoss(Protocol):
    """What every loss (built-in or plugin) provides.

    Examples:
        >>> import advloss
        >>> isinstance(advloss.get_loss("ns"), advloss.AdversarialLoss)
        True
    """

    name: ClassVar[str]

    def discriminator(self, real_logits: Any, fake_logits: Any, **options: Any) -> Any:
        """The discriminator's loss, to be minimised over D's parameters."""

    def generator(self, fake_logits: Any, **options: Any) -> Any:
        """The generator's loss, to be minimised over G's parameters."""


# --------------------------------------------------------------------------------------------
# Validation and preparation shared by every loss.


def _real_label(where: str, value: Any) -> float:
    value = _hyperparameter(where, "real_label", value)
    if not 0.0 < value <= 1.0:
        raise AdvlossValueError(
            f"{where}: real_label must lie in (0, 1] (1 = no smoothing, 0.9 = the usual one-sided "
            f"smoothing); received {value}."
        )
    return value


def _check_reduction(where: str, reduction: Any) -> None:
    if reduction not in _REDUCTIONS:
        raise AdvlossValueError(
            f"{where}: reduction must be one of {list(_REDUCTIONS)}; received {reduction!r}."
        )


def _broadcastable_to(shape: tuple[Any, ...], target: tuple[Any, ...]) -> bool:
    if len(shape) > len(target):
        return False
    for s, t in zip(reversed(shape), reversed(target), strict=False):
        if s is None or t is None:  # unknown at trace time (tf.function): checked by the framework
            continue
        if s != 1 and s != t:
            return False
    return True


class _Call:
    """The prepared arguments of one loss call: backend, logits in the computation dtype, weights."""

    # This runs on every eager call, so it stays lean: the `where` text for messages is built
    # only when an error is raised, and type checks already done by detection are not repeated.
    __slots__ = ("_convert", "_first", "_kind", "_method", "_owner", "b", "dtype", "reduction")

    def __init__(
        self, owner: object, method: str, backend: str | None, reduction: Any, values: tuple
    ) -> None:
        self._owner, self._method = owner, method
        # The default is compared first: under torch.compile a read of _REDUCTIONS is a guard.
        if reduction != "mean" and reduction not in _REDUCTIONS:
            _check_reduction(self.where, reduction)
        self.reduction = reduction
        # The common call -- every given argument a tensor of one already-seen type -- takes one
        # dict lookup; anything else (a forced backend, mixed or unknown types, numbers) goes
        # through backend_for, which also words the errors.  backend_for has the same fast path;
        # it is inlined here on purpose: calling backend_for from here costs torch.compile 4 more
        # guards per loss call (benchmarks.guards: 52 against 48 for ns.D).  `where=self`: backend_for formats
        # it into a message (see __str__) only on error.
        b, kind = None, None
        if backend is None:
            kind = type(values[0])
            same = True
            for v in values:  # a loop, not all(<generator>): half the cost; no for/else, which
                if v is not None and type(v) is not kind:  # autograph warns on
                    same = False
                    break
            if same:
                b = _BACKEND_OF_TYPE.get(kind)
        self._kind = kind if b is not None else None
        self.b: Backend = b or backend_for(*values, backend=backend, where=self)
        self._convert = backend is not None
        self.dtype = ""

    @property
    def where(self) -> str:
        return f"{type(self._owner).__name__}.{self._method}"

    def __str__(self) -> str:
        return self.where

    def logits(self, name: str, x: Any) -> Any:
        b = self.b
        if x is None:
            raise AdvlossTypeError(f"{self.where}: {name} is required; received None.")
        if self._convert and not b.is_tensor_type(type(x)):  # backend=: lists, NumPy arrays
            import numpy as np

            x = b.from_numpy(np.asarray(x))
        elif type(x) is not self._kind:  # the fast path's type is a tensor type
            _not_a_number(self, name, x)  # `self` formats as `where`, only in an error message
        # The checks inline, their helpers only word the errors (each call is ~0.1 µs eagerly).
        shape = b.shape(x)
        if not shape or shape[0] == 0:
            _batch_shape(self, name, shape, "tensor")
        dtype = b.dtype(x)
        if dtype not in _FLOATING_DTYPES:
            _floating(self, name, b, x, hint=_CAST_LOGITS)
        compute = "float32" if dtype in LOW_PRECISION_DTYPES else dtype
        if not self.dtype:
            self.dtype = compute
            self._first = (name, dtype)
        elif dtype != self._first[1]:
            first, first_dtype = self._first
            raise AdvlossTypeError(
                f"{self.where}: {first} has dtype {first_dtype} but {name} has dtype {dtype}; "
                f"pass logits of one dtype."
            )
        return x if compute == dtype else b.cast(x, compute)

    def weights(self, name: str, w: Any, logits_name: str, logits: Any) -> Any:
        if w is None:
            return None
        if isinstance(w, bool):
            raise AdvlossTypeError(
                f"{self.where}: {name} must be a number or a tensor broadcastable to the "
                f"logits; received the bool {w}."
            )
        if isinstance(w, (int, float)):
            if not math.isfinite(w):
                raise AdvlossValueError(f"{self.where}: {name} must be finite; received {w}.")
            return float(w)
        b = self.b
        if self._convert and not b.is_tensor_type(type(w)):
            import numpy as np

            w = b.from_numpy(np.asarray(w))
        dtype = b.dtype(w)
        if dtype.startswith("complex"):
            raise AdvlossTypeError(
                f"{self.where}: {name} must be real-valued; received dtype {dtype}."
            )
        shape, target = b.shape(w), b.shape(logits)
        if not _broadcastable_to(shape, target):
            per_sample = target[:1] + (1,) * (len(target) - 1) if target else ()
            raise AdvlossValueError(
                f"{self.where}: {name} of shape {shape} does not broadcast to {logits_name} of "
                f"shape {target}; expected a shape that broadcasts to the logits, e.g. "
                f"{per_sample} for one weight per sample."
            )
        return w if dtype == self.dtype else b.cast(w, self.dtype)

    def reduce(self, values: Any, w: Any, scale: float = 1.0) -> Any:
        """``scale * reduce(w * values)``.  Constant factors are applied after the reduction,
        once, so compiled graphs equal the hand-written formula's (and XLA does not build an
        array of them)."""
        if w is not None:
            values = values * w
        if self.reduction == "mean":
            values = self.b.mean(values)
        elif self.reduction == "sum":
            values = self.b.sum(values)
        if scale == 1.0:
            return values
        return -values if scale == -1.0 else scale * values

    def add(
        self,
        real_term: Any,
        w_real: Any,
        fake_term: Any,
        w_fake: Any,
        *,
        scale: float = 1.0,
        subtract_real: bool = False,
    ) -> Any:
        """``reduce(real_term) + reduce(fake_term)`` (or ``reduce(fake) - reduce(real)``), each
        times ``scale``; elementwise for ``reduction="none"``."""
        if self.reduction == "none":
            rs, fs = self.b.shape(real_term), self.b.shape(fake_term)
            if len(rs) != len(fs) or any(
                a is not None and c is not None and a != c for a, c in zip(rs, fs, strict=False)
            ):
                raise AdvlossValueError(
                    f"{self.where}: reduction='none' adds the real and fake terms elementwise, "
                    f"which needs equal shapes; received real shape {rs} and fake shape {fs}. "
                    f"Use reduction='mean' or 'sum', or compute the two terms separately."
                )
        if self.reduction == "mean" and w_real is None and w_fake is None and scale == 1.0:
            mean = self.b.mean  # the common call, without two reduce() frames
            real, fake = mean(real_term), mean(fake_term)
        else:
            real = self.reduce(real_term, w_real, scale)
            fake = self.reduce(fake_term, w_fake, scale)
        return fake - real if subtract_real else real + fake


def _side_weights(
    where: str, weights: Any, real_weights: Any, fake_weights: Any
) -> tuple[Any, Any]:
    if weights is not None:
        if real_weights is not None or fake_weights is not None:
            raise AdvlossValueError(
                f"{where}: pass either weights= (both terms) or real_weights=/fake_weights=, "
                f"not both."
            )
        return weights, weights
    return real_weights, fake_weights


def _minus(x: Any, target: float) -> Any:
    """``x - target``, without a no-op subtraction in the graph when the target is 0."""
    return x if isinstance(target, float) and target == 0.0 else x - target


def _bce_real(b: Backend, x: Any, y: float) -> Any:
    r"""Binary cross-entropy of logits ``x`` with the scalar target ``y``:
    $y\,\operatorname{softplus}(-x) + (1-y)\operatorname{softplus}(x)
    = \operatorname{softplus}(-x) + (1-y)\,x$.  The second form needs one softplus; its
    rounding error relative to the result grows at most like ``(2 - y) / y`` (``y`` is in
    (0, 1], 0.9 in practice), which is why targets near 0 would need the first form."""
    if y == 1.0:
        return b.softplus(-x)
    return b.softplus(-x) + (1.0 - y) * x


def _bce(b: Backend, x: Any, y: Any) -> Any:
    r"""Binary cross-entropy of logits ``x`` with per-element targets ``y`` (a tensor in
    [0, 1]): $y\,\operatorname{softplus}(-x) + (1-y)\operatorname{softplus}(x)$, exact for
    every target, including flipped (0 for a real sample, 1 for a fake one)."""
    return y * b.softplus(-x) + (1.0 - y) * b.softplus(x)


def _label(
    call: _Call, name: str, value: Any, logits_name: str, logits: Any, low: float, high: float
) -> Any:
    """A label argument: a Python number in ``[low, high]`` (returned as a float), or a tensor
    broadcastable to the logits (cast to their dtype; its values are not read — that would
    synchronise with the host)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = _hyperparameter(call.where, name, value)
        if not low <= value <= high:
            raise AdvlossValueError(
                f"{call.where}: {name} must lie in [{low}, {high}]; received {value}."
            )
        return value
    return call.weights(name, value, logits_name, logits)


# --------------------------------------------------------------------------------------------
# The losses.


@dataclasses.dataclass(frozen=True, slots=True)
class _Loss(Configurable):
    """Shared by the built-in losses: hyperparameters are dataclass fields (keyword-only).

    A template: ``discriminator`` and ``generator`` validate and prepare the call (backend,
    logits in the computation dtype, weights, reduction) once, here; a loss supplies only its
    elementwise terms — ``_discriminator_terms`` (real and fake) and ``_generator_term`` (or, for
    a generator that also uses real logits, ``_generator_terms``)."""

    name: ClassVar[str] = ""
    #: Whether ``generator`` needs ``real_logits`` (the relativistic loss).
    generator_needs_real: ClassVar[bool] = False
    #: Whether ``discriminator`` takes ``real_label``/``fake_label`` (label transforms:
    #: smoothing, flipping, noisy labels).  Only losses with class targets have labels.
    supports_labels: ClassVar[bool] = False
    #: The discriminator loss is ``scale * (reduce(real) + reduce(fake))``, or
    #: ``scale * (reduce(fake) - reduce(real))`` where ``_subtract_real``.
    _scale: ClassVar[float] = 1.0
    _subtract_real: ClassVar[bool] = False

    @property
    def decision_threshold(self) -> float:
        """The logit at which the discriminator is undecided: outputs above it are classified
        real (0 for the logistic losses, hinge and the critic scores of wgan; ``(a + b) / 2``
        for LSGAN).  Used by the balance diagnostics (real / fake accuracy)."""
        return 0.0

    @property
    def higher_is_real(self) -> bool:
        """Whether outputs above ``decision_threshold`` are classified real."""
        return True

    def _where(self, method: str) -> str:
        return f"{type(self).__name__}.{method}"

    def discriminator(
        self,
        real_logits: Any,
        fake_logits: Any,
        *,
        reduction: Reduction = "mean",
        weights: Any = None,
        real_weights: Any = None,
        fake_weights: Any = None,
        real_label: Any = None,
        fake_label: Any = None,
        backend: str | None = None,
    ) -> Any:
        r"""The discriminator's loss (see the class docstring for the formula): its real term
        on ``real_logits`` and its fake term on ``fake_logits``, each reduced on its own.

        Args:
            real_logits: ``D(x)``, shape ``(N, ...)``, floating dtype.
            fake_logits: ``D(G(z))``, shape ``(M, ...)``, same dtype.
            reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (elementwise real + fake
                terms; needs equal shapes).
            weights: per-element weights for both terms, broadcastable to the logits; or
            real_weights, fake_weights: one per term (TF-GAN's ``real_weights``/``generated_weights``).
            real_label, fake_label: the labels of this call, only for losses with class
                targets (``supports_labels``): a number or a tensor of per-element labels
                broadcastable to the logits (its values are not checked: that would synchronise
                with the host).  For minimax and ns they are the cross-entropy targets:
                ``real_label`` in (0, 1] (one-sided smoothing; defaults to the loss's own),
                ``fake_label`` in [0, 1) (0 by default; flipped labels are tensors).  For lsgan
                they are in *label space* (1 = real, 0 = fake), mapped to the targets
                $a + y\,(b - a)$, and numbers may lie anywhere (noisy targets such as
                [0.7, 1.2] are meaningful).
            backend: force a framework instead of detecting it from the arguments.

        Returns:
            A 0-d tensor (elementwise values for ``reduction="none"``) of the logits'
            framework, in their dtype (float32 for float16/bfloat16 logits).
        """
        # The labels are tested first: the common call (no labels) then does not read the class
        # attribute supports_labels, on which torch.compile would install a guard.
        if (real_label is not None or fake_label is not None) and not self.supports_labels:
            given = "real_label" if real_label is not None else "fake_label"
            raise AdvlossTypeError(
                f"{self._where('discriminator')}: {given} is only for losses with class targets "
                f"(minimax, ns, lsgan); the {self.name!r} loss has none (its outputs are margins "
                f"or critic scores, not class predictions). Expected {given}=None."
            )
        call, r, f, wr, wf = self._prepare(
            "discriminator",
            real_logits,
            fake_logits,
            reduction,
            weights,
            real_weights,
            fake_weights,
            backend,
            ("real_weights", "fake_weights"),
        )
        real_term, fake_term = self._discriminator_terms(call, r, f, real_label, fake_label)
        return call.add(
            real_term, wr, fake_term, wf, scale=self._scale, subtract_real=self._subtract_real
        )

    def generator(
        self,
        fake_logits: Any,
        *,
        reduction: Reduction = "mean",
        weights: Any = None,
        real_logits: Any = None,
        real_weights: Any = None,
        backend: str | None = None,
    ) -> Any:
        """The generator's loss (see the class docstring for the formula).

        Args:
            fake_logits: ``D(G(z))``, shape ``(M, ...)``, floating dtype.
            reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (for the relativistic
                loss: elementwise real + fake terms, which needs equal shapes).
            weights: optional per-element weights broadcastable to ``fake_logits``.
            real_logits: ``D(x)``, shape ``(N, ...)``, same dtype: required by the losses whose
                generator compares fake with real logits (``generator_needs_real``: ragan,
                rpgan, rp_hinge, rp_lsgan),
                accepted and ignored by the others, so that one call works for every loss.
            real_weights: per-element weights of the real term (``generator_needs_real`` only).
            backend: force a framework instead of detecting it from the arguments.

        Returns:
            A 0-d tensor (or elementwise values for ``reduction="none"``) of the logits'
            framework, in their dtype (float32 for float16/bfloat16 logits).
        """
        if self.generator_needs_real:
            call, r, f, wr, wf = self._prepare(
                "generator",
                real_logits,
                fake_logits,
                reduction,
                None,
                real_weights,
                weights,
                backend,
                ("real_weights", "weights"),
            )
            real_term, fake_term = self._generator_terms(call.b, r, f)
            return call.add(real_term, wr, fake_term, wf)
        if real_weights is not None:
            raise AdvlossTypeError(
                f"{self._where('generator')}: real_weights weighs the real term of a generator "
                f"loss that uses real logits (ragan); the {self.name!r} loss's generator has "
                f"none; received real_weights of type {type(real_weights).__name__}."
            )
        call = _Call(self, "generator", backend, reduction, (fake_logits, weights))
        f = call.logits("fake_logits", fake_logits)
        w = call.weights("weights", weights, "fake_logits", f)
        term, scale = self._generator_term(call.b, f)
        return call.reduce(term, w, scale)

    # ---------------------------------------------------------------- what a loss supplies

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        """The elementwise real and fake terms of the discriminator's loss, from prepared
        logits (labels: ``None`` unless given, and only for ``supports_labels`` losses)."""
        raise NotImplementedError

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        """The elementwise generator term and the constant factor applied after reducing it."""
        raise NotImplementedError

    def _generator_terms(self, b: Backend, r: Any, f: Any) -> tuple[Any, Any]:
        """The elementwise real and fake terms of a generator loss that uses real logits
        (``generator_needs_real``)."""
        raise NotImplementedError

    def _prepare(
        self,
        method: str,
        real_logits: Any,
        fake_logits: Any,
        reduction: Any,
        weights: Any,
        real_weights: Any,
        fake_weights: Any,
        backend: str | None,
        weight_names: tuple[str, str],
    ) -> tuple[_Call, Any, Any, Any, Any]:
        """Validate and prepare a call on real and fake logits with per-side weights
        (``weight_names``: how messages name them; no default, whose read torch.compile would
        guard)."""
        if weights is not None:
            real_weights, fake_weights = _side_weights(
                self._where(method), weights, real_weights, fake_weights
            )
            weight_names = ("weights", "weights")
        call = _Call(
            self, method, backend, reduction, (real_logits, fake_logits, real_weights, fake_weights)
        )
        r = call.logits("real_logits", real_logits)
        f = call.logits("fake_logits", fake_logits)
        if real_weights is None and fake_weights is None:  # the common call: no weights
            return call, r, f, None, None
        wr = call.weights(weight_names[0], real_weights, "real_logits", r)
        wf = call.weights(weight_names[1], fake_weights, "fake_logits", f)
        return call, r, f, wr, wf


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _BinaryCrossEntropyLoss(_Loss):
    """Discriminator of the minimax and non-saturating losses (they share it)."""

    supports_labels: ClassVar[bool] = True
    real_label: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "real_label", _real_label(type(self).__name__, self.real_label))

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        r"""Binary cross-entropy with target ``real_label`` on real logits and ``fake_label``
        (0 by default) on fake logits: $\operatorname{softplus}(-r) + (1-y)\,r$ and
        $\operatorname{softplus}(f)$.  With per-element label tensors $y_r, y_f$ (label
        transforms: flipping, noisy labels) each term is the full cross-entropy
        $y\operatorname{softplus}(-x) + (1-y)\operatorname{softplus}(x)$.

        ``real_label``: a number in (0, 1] (one-sided label smoothing; defaults to the loss's
        ``real_label``) or a tensor of targets in [0, 1]; ``fake_label``: a number in [0, 1)
        or a tensor.  The usual advice is never to smooth fake labels; flipped labels are
        tensors."""
        b = call.b
        y = self.real_label if real_label is None else real_label
        if real_label is None:
            pass  # the loss's own, checked when it was built
        elif isinstance(y, (int, float)) and not isinstance(y, bool):
            y = _real_label(call.where, y)
        else:
            y = _label(call, "real_label", y, "real_logits", r, 0.0, 1.0)
        if fake_label is not None:
            fake_label = _label(call, "fake_label", fake_label, "fake_logits", f, 0.0, 1.0)
            if isinstance(fake_label, float) and fake_label == 1.0:
                raise AdvlossValueError(
                    f"{call.where}: fake_label must lie in [0, 1); received 1.0."
                )
        real_term = _bce_real(b, r, y) if isinstance(y, float) else _bce(b, r, y)
        if fake_label is None or (isinstance(fake_label, float) and fake_label == 0.0):
            fake_term = b.softplus(f)
        elif isinstance(fake_label, float):
            fake_term = b.softplus(f) - fake_label * f
        else:
            fake_term = _bce(b, f, fake_label)
        return real_term, fake_term


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class MinimaxLoss(_BinaryCrossEntropyLoss):
    r"""The original (saturating) minimax GAN loss of Goodfellow et al. (2014).

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}\big[\operatorname{softplus}(-r) + (1-y)\,r\big]
              + \operatorname{mean}\big[\operatorname{softplus}(f)\big] \\
        L_G &= -\operatorname{mean}\big[\operatorname{softplus}(f)\big]
              = \operatorname{mean}\big[\log(1 - \sigma(f))\big]
    \end{aligned}
    $$

    ``y`` is ``real_label`` (1 by default; 0.9 is the usual one-sided smoothing).  The generator
    term saturates: its gradient $-\sigma(f)$ vanishes when D confidently rejects fakes
    ($f \ll 0$), which is why ``NonSaturatingLoss`` is used in practice.

    TF-GAN's ``minimax_generator_loss`` equals $L_G - \operatorname{BCE}(1, 1) \approx
    L_G - 0.3133$ (a constant that does not change gradients); torchgan's saturating generator
    loss equals $L_G$ exactly.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("minimax")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f):.4f}")
        0.8037 -0.5032
    """

    name: ClassVar[str] = "minimax"

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        return b.softplus(f), -1.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class NonSaturatingLoss(_BinaryCrossEntropyLoss):
    r"""The non-saturating GAN loss (Goodfellow et al. 2014; the "logistic" loss of StyleGAN).

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}\big[\operatorname{softplus}(-r) + (1-y)\,r\big]
              + \operatorname{mean}\big[\operatorname{softplus}(f)\big] \\
        L_G &= \operatorname{mean}\big[\operatorname{softplus}(-f)\big]
              = -\operatorname{mean}\big[\log \sigma(f)\big]
    \end{aligned}
    $$

    The generator maximises $\log D(G(z))$ instead of minimising
    $\log(1 - D(G(z)))$: same fixed point, but a gradient $-\sigma(-f)$ that is
    largest exactly when D rejects the fakes.  ``y`` is ``real_label`` (one-sided smoothing).

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("ns", real_label=0.9)
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f):.4f}")
        0.9287 1.0032
    """

    name: ClassVar[str] = "ns"

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        return b.softplus(-f), 1.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class LeastSquaresLoss(_Loss):
    r"""The least-squares GAN loss (LSGAN, Mao et al. 2017) on logits.

    $$
    \begin{aligned}
        L_D &= \tfrac12 \operatorname{mean}\big[(r - b)^2\big]
              + \tfrac12 \operatorname{mean}\big[(f - a)^2\big] \\
        L_G &= \tfrac12 \operatorname{mean}\big[(f - c)^2\big]
    \end{aligned}
    $$

    ``a`` is the fake target, ``b`` the real target and ``c`` the value G wants D to output for
    fakes (defaults 0, 1, 1 — the paper's 0-1 coding; -1, 1, 0 is its other choice).  The ½
    factors follow the paper, TF-GAN, torchgan and StudioGAN; pix2pix's ``GANLoss('lsgan')``
    uses ``MSELoss`` with no ½ (its D loss is then halved, its G loss is not).  The targets act
    on the raw logits, not on ``sigmoid(logits)`` as in compare_gan.  A smoothed real target is
    simply a different ``b``.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("lsgan")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f):.4f}")
        0.5625 1.2500
    """

    name: ClassVar[str] = "lsgan"
    supports_labels: ClassVar[bool] = True
    a: float = 0.0
    b: float = 1.0
    c: float = 1.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        for field in ("a", "b", "c"):
            object.__setattr__(self, field, _hyperparameter(where, field, getattr(self, field)))
        if self.a == self.b:
            raise AdvlossValueError(
                f"{where}: the fake target a and the real target b must differ (else D has "
                f"nothing to learn); received a = b = {self.a}."
            )

    _scale: ClassVar[float] = 0.5

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        r"""$(r-b)^2$ and $(f-a)^2$ (halved after the reduction).  ``real_label`` and
        ``fake_label`` are in *label space* (1 = real, 0 = fake) and map to the targets
        $a + y\,(b - a)$: ``real_label=0.9`` with the default coding targets 0.9, a flipped
        real sample (label 0) targets ``a``.  Numbers may lie anywhere (noisy LSGAN targets such
        as [0.7, 1.2] are meaningful); tensors broadcast to the logits."""
        tr = self.b if real_label is None else self._target(call, "real_label", real_label, r)
        tf_ = self.a if fake_label is None else self._target(call, "fake_label", fake_label, f)
        dr, df = _minus(r, tr), _minus(f, tf_)
        return _square(call.b, dr), _square(call.b, df)

    def _target(self, call: _Call, name: str, label: Any, logits: Any) -> Any:
        y = _label(call, name, label, name.replace("label", "logits"), logits, -math.inf, math.inf)
        return self.a + (self.b - self.a) * y

    @property
    def decision_threshold(self) -> float:
        """``(a + b) / 2``: halfway between the fake and real targets."""
        return 0.5 * (self.a + self.b)

    @property
    def higher_is_real(self) -> bool:
        """Whether outputs above the threshold mean "real" (``b > a``, as in both codings of
        the paper)."""
        return self.b > self.a

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        return _square(b, _minus(f, self.c)), 0.5


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class HingeLoss(_Loss):
    r"""The hinge loss (Lim & Ye 2017, "Geometric GAN"; SNGAN, BigGAN).

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}\big[\operatorname{relu}(m_r - r)\big]
              + \operatorname{mean}\big[\operatorname{relu}(m_f + f)\big] \\
        L_G &= -\operatorname{mean}\big[f\big]
    \end{aligned}
    $$

    ``m_r = real_margin`` and ``m_f = fake_margin`` (both 1 by default; TF-GAN calls them
    ``real_hinge`` and ``generated_hinge``).  D stops being pushed once a real logit exceeds
    $m_r$ or a fake one falls below $-m_f$; the relu has derivative 0 at the kink.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("hinge")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f):.4f}")
        0.7500 0.5000
    """

    name: ClassVar[str] = "hinge"
    real_margin: float = 1.0
    fake_margin: float = 1.0

    def __post_init__(self) -> None:
        where = type(self).__name__
        for field in ("real_margin", "fake_margin"):
            value = _hyperparameter(where, field, getattr(self, field))
            if value < 0:
                raise AdvlossValueError(
                    f"{where}: {field} must be >= 0 (1 is the usual margin); received {value}."
                )
            object.__setattr__(self, field, value)

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        r"""$\operatorname{relu}(m_r - r)$ and $\operatorname{relu}(m_f + f)$."""
        b = call.b
        return b.relu(self.real_margin - r), b.relu(self.fake_margin + f)

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        return f, -1.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class WassersteinLoss(_Loss):
    r"""The Wasserstein GAN loss (Arjovsky et al. 2017), for a critic kept near-1-Lipschitz by a
    gradient penalty, spectral normalization or weight clipping.

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}\big[f\big] - \operatorname{mean}\big[r\big] \\
        L_G &= -\operatorname{mean}\big[f\big]
    \end{aligned}
    $$

    The outputs are unbounded critic scores, not probabilities.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("wgan")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f):.4f}")
        -1.7500 0.5000
    """

    name: ClassVar[str] = "wgan"

    _subtract_real: ClassVar[bool] = True

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        """The critic's loss is $f - r$: the real term is subtracted (``_subtract_real``)."""
        return r, f

    def _generator_term(self, b: Backend, f: Any) -> tuple[Any, float]:
        return f, -1.0


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RelativisticAverageLoss(_Loss):
    r"""The relativistic average GAN loss (RaSGAN, Jolicoeur-Martineau 2018), in TF-GAN's form.

    With $\bar r = \operatorname{mean}(r)$ and $\bar f = \operatorname{mean}(f)$ over
    all elements:

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}\big[\operatorname{softplus}(-(r - \bar f))\big]
              + \operatorname{mean}\big[\operatorname{softplus}(f - \bar r)\big] \\
        L_G &= \operatorname{mean}\big[\operatorname{softplus}(r - \bar f)\big]
              + \operatorname{mean}\big[\operatorname{softplus}(-(f - \bar r))\big]
    \end{aligned}
    $$

    D estimates the probability that real data is *more* realistic than fake data on average; G
    is trained with the labels swapped, so it also receives gradient through the real logits'
    term (``real_logits`` is required by ``generator``).  Gradients flow through the means.
    Weights apply to the outer terms; the centring means are unweighted.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("ragan")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f, real_logits=r):.4f}")
        0.3721 3.8721
    """

    name: ClassVar[str] = "ragan"
    generator_needs_real: ClassVar[bool] = True

    def _discriminator_terms(
        self, call: _Call, r: Any, f: Any, real_label: Any, fake_label: Any
    ) -> tuple[Any, Any]:
        r"""$\operatorname{softplus}(\bar f - r)$ and $\operatorname{softplus}(f - \bar r)$."""
        b = call.b
        return b.softplus(b.mean(f) - r), b.softplus(f - b.mean(r))

    def _generator_terms(self, b: Backend, r: Any, f: Any) -> tuple[Any, Any]:
        r"""$\operatorname{softplus}(r - \bar f)$ and $\operatorname{softplus}(\bar r - f)$
        (the labels swapped)."""
        return b.softplus(r - b.mean(f)), b.softplus(b.mean(r) - f)


# --------------------------------------------------------------------------------------------
# Relativistic pairing losses: one term per (real, fake) pair.


def _equal_shapes(where: object, rs: tuple[Any, ...], fs: tuple[Any, ...]) -> None:
    """Static shapes only (a dimension unknown at trace time, ``None``, is not compared)."""
    if len(rs) != len(fs) or any(
        a is not None and c is not None and a != c for a, c in zip(rs, fs, strict=False)
    ):
        raise AdvlossValueError(
            f"{where}: a relativistic pairing loss compares real_logits[i] with "
            f"fake_logits[i], so they need equal shapes; received real_logits of shape "
            f"{tuple(rs)} and fake_logits of shape {tuple(fs)}. Pass real and fake batches of "
            f"one size (and logits of one layout), or use 'ragan', which compares each logit "
            f"with the other batch's mean."
        )


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class _PairedLoss(_Loss):
    r"""Shared by the relativistic pairing losses (RpGAN, Jolicoeur-Martineau 2018).

    The discriminator's loss is one elementwise term $\varphi(r_i - f_i)$ of each pair
    ``(real_logits[i], fake_logits[i])``; the generator's is $\varphi(f_i - r_i)$, the same
    function with the roles swapped.  A loss supplies only $\varphi$ (``_pair_term``).  Real
    and fake logits must have equal shapes; ``weights`` weigh the pairs.  There is no separate
    real or fake term, so ``real_weights``/``fake_weights`` and labels are refused."""

    generator_needs_real: ClassVar[bool] = True

    def discriminator(
        self,
        real_logits: Any,
        fake_logits: Any,
        *,
        reduction: Reduction = "mean",
        weights: Any = None,
        real_weights: Any = None,
        fake_weights: Any = None,
        real_label: Any = None,
        fake_label: Any = None,
        backend: str | None = None,
    ) -> Any:
        r"""The discriminator's loss: $\varphi(r_i - f_i)$ for each pair, reduced ($\varphi$ is
        the loss's function of a pair difference, given in the class docstring).

        Args:
            real_logits: ``D(x)``, shape ``(N, ...)``, floating dtype.
            fake_logits: ``D(G(z))``, the **same shape**: ``fake_logits[i]`` is paired with
                ``real_logits[i]``.
            reduction: ``"mean"`` (default, over all pairs), ``"sum"`` or ``"none"`` (the
                elementwise pair terms, the logits' shape).
            weights: per-pair weights, broadcastable to the logits (``(N, 1)`` for one weight
                per sample of ``(N, 1)`` logits).
            real_weights, fake_weights, real_label, fake_label: refused with an
                ``AdvlossTypeError``: a pairing loss has one term per pair, not a real and a
                fake term, and no class targets.
            backend: force a framework instead of detecting it from the arguments.

        Returns:
            A 0-d tensor (the pair terms for ``reduction="none"``) of the logits' framework,
            in their dtype (float32 for float16/bfloat16 logits).
        """
        where = self._where("discriminator")
        for name, value in (
            ("real_weights", real_weights),
            ("fake_weights", fake_weights),
            ("real_label", real_label),
            ("fake_label", fake_label),
        ):
            if value is not None:
                self._refuse(where, name, value)
        call, r, f, w = self._pairs(
            "discriminator", real_logits, fake_logits, reduction, weights, backend
        )
        return call.reduce(self._pair_term(call.b, r, f), w)

    def generator(
        self,
        fake_logits: Any,
        *,
        reduction: Reduction = "mean",
        weights: Any = None,
        real_logits: Any = None,
        real_weights: Any = None,
        backend: str | None = None,
    ) -> Any:
        r"""The generator's loss: $\varphi(f_i - r_i)$ for each pair, reduced.

        Args:
            fake_logits: ``D(G(z))``, shape ``(N, ...)``, floating dtype.
            reduction: ``"mean"`` (default), ``"sum"`` or ``"none"`` (the pair terms).
            weights: per-pair weights, broadcastable to the logits.
            real_logits: ``D(x)``, the same shape, same dtype: **required** (the generator
                compares each fake logit with its paired real one).
            real_weights: refused (``AdvlossTypeError``): there is no separate real term.
            backend: force a framework instead of detecting it from the arguments.

        Returns:
            A 0-d tensor (the pair terms for ``reduction="none"``) of the logits' framework,
            in their dtype (float32 for float16/bfloat16 logits).
        """
        if real_weights is not None:
            self._refuse(self._where("generator"), "real_weights", real_weights)
        call, r, f, w = self._pairs(
            "generator", real_logits, fake_logits, reduction, weights, backend
        )
        return call.reduce(self._pair_term(call.b, f, r), w)

    def _pairs(
        self,
        method: str,
        real_logits: Any,
        fake_logits: Any,
        reduction: Any,
        weights: Any,
        backend: str | None,
    ) -> tuple[_Call, Any, Any, Any]:
        call = _Call(self, method, backend, reduction, (real_logits, fake_logits, weights))
        r = call.logits("real_logits", real_logits)
        f = call.logits("fake_logits", fake_logits)
        _equal_shapes(call, call.b.shape(r), call.b.shape(f))
        return call, r, f, call.weights("weights", weights, "the logits", f)

    def _refuse(self, where: str, name: str, value: Any) -> None:
        if name.endswith("label"):
            why = (
                f"{name} is only for losses with class targets (minimax, ns, lsgan); a "
                f"relativistic pairing loss has none"
            )
        else:
            why = (
                f"{name} weighs a separate real or fake term, and the {self.name!r} loss has "
                f"one term per (real, fake) pair; weigh the pairs with weights="
            )
        raise AdvlossTypeError(
            f"{where}: {why}. Received {name} of type {type(value).__name__}; expected {name}=None."
        )

    def _pair_term(self, b: Backend, x: Any, y: Any) -> Any:
        r"""$\varphi(x - y)$ elementwise: ``(r, f)`` for the discriminator, ``(f, r)`` for the
        generator."""
        raise NotImplementedError


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RelativisticPairingLoss(_PairedLoss):
    r"""The relativistic pairing GAN loss (RpGAN; "RSGAN", Jolicoeur-Martineau 2018), the loss
    of R3GAN (Huang et al. 2024).

    With each real logit $r_i$ paired with the fake logit $f_i$ of the same index:

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}_i\big[\operatorname{softplus}(f_i - r_i)\big]
              = -\operatorname{mean}_i\big[\log\sigma(r_i - f_i)\big] \\
        L_G &= \operatorname{mean}_i\big[\operatorname{softplus}(r_i - f_i)\big]
              = -\operatorname{mean}_i\big[\log\sigma(f_i - r_i)\big]
    \end{aligned}
    $$

    $\sigma(r_i - f_i)$ is D's probability that the real sample is more realistic than its
    paired fake.  This is **one** term per pair, as in the paper's Algorithm 1, the RSGAN code
    of AlexiaJM/RelativisticGAN and R3GAN's trainer.  The paper's general form
    $f_1(r - f) + f_2(f - r)$ with $f_1(y) = \operatorname{softplus}(-y)$,
    $f_2(y) = \operatorname{softplus}(y)$ counts the same term twice: it is $2 L_D$ (as
    AlexiaJM/MaximumMarginGANs computes D's loss).  Real and fake logits must have equal
    shapes; the generator needs ``real_logits``.  The loss depends only on differences of
    logits, so adding a constant to D's outputs changes nothing.  In the methods' notation
    $\varphi(y) = \operatorname{softplus}(-y)$.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("rpgan")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f, real_logits=r):.4f}")
        0.2613 2.0113
    """

    name: ClassVar[str] = "rpgan"

    def _pair_term(self, b: Backend, x: Any, y: Any) -> Any:
        r"""$\operatorname{softplus}(-(x - y)) = \operatorname{softplus}(y - x)$."""
        return b.softplus(y - x)


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RelativisticPairingHingeLoss(_PairedLoss):
    r"""The relativistic pairing hinge loss (RpHingeGAN, Jolicoeur-Martineau 2018).

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}_i\big[\operatorname{relu}(1 - (r_i - f_i))\big] \\
        L_G &= \operatorname{mean}_i\big[\operatorname{relu}(1 - (f_i - r_i))\big]
    \end{aligned}
    $$

    D stops being pushed once a real logit exceeds its paired fake one by the margin 1.  One
    term per pair: the paper's general form $f_1(r - f) + f_2(f - r)$ with
    $f_1(y) = \operatorname{relu}(1 - y)$, $f_2(y) = \operatorname{relu}(1 + y)$ is $2 L_D$.
    Equal shapes required; the generator needs ``real_logits``; the relu has derivative 0 at
    the kink.  In the methods' notation $\varphi(y) = \operatorname{relu}(1 - y)$.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("rp_hinge")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f, real_logits=r):.4f}")
        0.2500 2.7500
    """

    name: ClassVar[str] = "rp_hinge"

    def _pair_term(self, b: Backend, x: Any, y: Any) -> Any:
        r"""$\operatorname{relu}(1 - (x - y))$."""
        return b.relu(1.0 - (x - y))


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class RelativisticPairingLeastSquaresLoss(_PairedLoss):
    r"""The relativistic pairing least-squares loss (RpLSGAN, Jolicoeur-Martineau 2018).

    $$
    \begin{aligned}
        L_D &= \operatorname{mean}_i\big[(r_i - f_i - 1)^2\big] \\
        L_G &= \operatorname{mean}_i\big[(f_i - r_i - 1)^2\big]
    \end{aligned}
    $$

    D drives each real logit to exceed its paired fake one by 1, G the reverse.  No ½ factor
    (the paper's and AlexiaJM's code's form); one term per pair — the paper's general form
    $f_1(r - f) + f_2(f - r)$ with $f_1(y) = (y - 1)^2$, $f_2(y) = (y + 1)^2$ is $2 L_D$.
    Equal shapes required; the generator needs ``real_logits``.  In the methods' notation
    $\varphi(y) = (y - 1)^2$.

    Examples:
        >>> import numpy as np, advloss
        >>> loss = advloss.get_loss("rp_lsgan")
        >>> r, f = np.array([2.0, 0.5]), np.array([-1.0, 0.0])
        >>> print(f"{loss.discriminator(r, f):.4f} {loss.generator(f, real_logits=r):.4f}")
        2.1250 9.1250
    """

    name: ClassVar[str] = "rp_lsgan"

    def _pair_term(self, b: Backend, x: Any, y: Any) -> Any:
        r"""$(x - y - 1)^2$."""
        return _square(b, x - y - 1.0)


_register_builtins(
    "loss",
    MinimaxLoss,
    NonSaturatingLoss,
    LeastSquaresLoss,
    HingeLoss,
    WassersteinLoss,
    RelativisticAverageLoss,
    RelativisticPairingLoss,
    RelativisticPairingHingeLoss,
    RelativisticPairingLeastSquaresLoss,
)

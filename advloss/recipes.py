r"""Recipes: a published training setup as one named value — the objective (the loss and the
penalties, with their schedules) and the optimizer settings it was trained with.

A recipe is an object of the registry's ``"recipe"`` kind with ``objective()`` (an
``advloss.Objective``) and ``config()``.  ``Objective.parse`` expands a recipe's name into its
terms, so ``"r3gan(steps=20000) + diffaug('color')"`` is R3GAN's objective with DiffAugment;
``repr`` of that objective prints the expanded terms, which parse back to an equal objective.

Built in: ``r3gan`` (`R3GAN`, Huang et al. 2024, "The GAN is dead; long live the GAN!"):

$$
L_D = \operatorname{mean}_i\big[\operatorname{softplus}(f_i - r_i)\big]
      + \tfrac{\gamma_t}{2}\operatorname{mean}_i \lVert\nabla_x D(x_i)\rVert^2
      + \tfrac{\gamma_t}{2}\operatorname{mean}_i \lVert\nabla_{\tilde x} D(\tilde x_i)\rVert^2,
\qquad L_G = \operatorname{mean}_i\big[\operatorname{softplus}(r_i - f_i)\big]
$$

(``rpgan + r1 + r2``, advloss's γ is R3GAN's ``Gamma``), trained with Adam
$\beta_1 = 0$, and $\gamma_t$, the learning rate and $\beta_2$ each on a cosine from a base to a
final value over ``steps`` training steps (then held):
$v_t = v_1 + (v_0 - v_1)\,\tfrac12\,(1 + \cos(\pi \min(t / T, 1)))$.

Examples:
    >>> import advloss
    >>> recipe = advloss.recipes.R3GAN(gamma=0.05, steps=1000)   # CIFAR-10's γ: 0.05 -> 0.005
    >>> print(recipe.objective())
    rpgan + r1(every=1, gamma={'name': 'cosine', 'start': 0.05, 'end': 0.005, 'steps': 1000, 'begin': 0}) + r2(every=1, gamma={'name': 'cosine', 'start': 0.05, 'end': 0.005, 'steps': 1000, 'begin': 0})
    >>> advloss.Objective.parse("r3gan(gamma=0.05, steps=1000)") == recipe.objective()
    True
    >>> lr, betas = recipe.adam(500)                              # half-way: the cosines' middles
    >>> print(f"{lr:.6f} {betas[0]} {betas[1]:.3f} {recipe.gamma_schedule(500):.4f}")
    0.000125 0.0 0.945 0.0275
"""

from __future__ import annotations

import ast
import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar, cast

from advloss import registry
from advloss._checks import hyperparameter, integer, non_negative, positive
from advloss._config import Configurable
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import _register_builtins
from advloss.schedules import Cosine

__all__ = ["R3GAN", "available_recipes", "get_recipe", "parse_recipe"]


def _beta(where: str, name: str, value: Any) -> float:
    value = hyperparameter(where, name, value)
    if not 0.0 <= value < 1.0:
        raise AdvlossValueError(f"{where}: {name} must lie in [0, 1); received {value}.")
    return value


@dataclasses.dataclass(frozen=True, kw_only=True)
class R3GAN(Configurable):
    r"""The R3GAN recipe (Huang, Gokaslan, Kuleshov, Tompkin, NeurIPS 2024; brownvc/R3GAN): the
    relativistic pairing loss with R1 and R2 at one γ, γ decayed on a cosine, and Adam with
    $\beta_1 = 0$ and cosine schedules of the learning rate and $\beta_2$.

    The defaults are R3GAN's CIFAR-10 preset (``train.py --preset CIFAR10``): γ 0.05 → 0.005,
    learning rate 2e-4 → 5e-5 and $\beta_2$ 0.9 → 0.99, over 2e7 images (``steps`` = 2e7 /
    batch size).  Its other presets change γ only, always to a tenth of the base (FFHQ-64:
    2 → 0.2; FFHQ-256: 150 → 15; ImageNet-32: 0.5 → 0.05; ImageNet-64: 1 → 0.1), so
    ``gamma_end`` defaults to ``gamma / 10``.

    γ maps one to one: R3GAN's D loss adds ``(Gamma / 2) * (R1Penalty + R2Penalty)`` with
    ``R1Penalty`` the per-sample sum of squared input gradients, which is advloss's
    ``r1(gamma=Gamma)`` + ``r2(gamma=Gamma)`` (``docs/losses/r3gan.md``).  R3GAN evaluates its
    schedules at ``cur_nimg`` = step × batch size, before the step: advloss's step ``t`` with
    ``steps = total_nimg / batch`` gives the same values.

    Args:
        steps: $T$, the length of the decays in training steps (required; after it the final
            values hold).
        gamma, gamma_end: γ's base and final values (>= 0; ``gamma_end`` default
            ``gamma / 10``).
        lr, lr_end: the learning rate's base and final values (> 0), both networks.
        beta2, beta2_end: Adam's $\beta_2$ base and final values, in [0, 1).

    Examples:
        >>> import advloss
        >>> r = advloss.recipes.R3GAN(gamma=2.0, steps=100)       # FFHQ-64's γ
        >>> r.gamma_end, r.config()["lr"]
        (0.2, 0.0002)
    """

    name: ClassVar[str] = "r3gan"
    #: Adam's $\beta_1$ in R3GAN (``betas=[0, ...]`` for both networks).
    BETA1: ClassVar[float] = 0.0
    #: Adam's ε in R3GAN (PyTorch's, outside the square root).
    EPSILON: ClassVar[float] = 1e-8
    steps: int | None = None
    gamma: float = 0.05
    gamma_end: float | None = None
    lr: float = 2e-4
    lr_end: float = 5e-5
    beta2: float = 0.9
    beta2_end: float = 0.99

    def __post_init__(self) -> None:
        where = type(self).__name__
        if self.steps is None:
            raise AdvlossValueError(
                f"{where}: steps is required: the length of the γ, learning-rate and beta2 "
                f"decays in training steps (R3GAN: 2e7 images / batch size), e.g. "
                f"r3gan(steps=20000)."
            )
        set_ = object.__setattr__
        set_(self, "steps", integer(where, "steps", self.steps, minimum=1))
        set_(self, "gamma", non_negative(where, "gamma", self.gamma))
        end = self.gamma / 10 if self.gamma_end is None else self.gamma_end
        set_(self, "gamma_end", non_negative(where, "gamma_end", end))
        set_(self, "lr", positive(where, "lr", self.lr))
        set_(self, "lr_end", positive(where, "lr_end", self.lr_end))
        set_(self, "beta2", _beta(where, "beta2", self.beta2))
        set_(self, "beta2_end", _beta(where, "beta2_end", self.beta2_end))

    def _cosine(self, start: float, end: float | None) -> Cosine:
        # steps and the ends are set (ints, floats) by __post_init__
        return Cosine(start=start, end=cast(float, end), steps=cast(int, self.steps))

    @property
    def gamma_schedule(self) -> Cosine:
        """γ's cosine decay (what R1 and R2 take as ``gamma``)."""
        return self._cosine(self.gamma, self.gamma_end)

    @property
    def lr_schedule(self) -> Cosine:
        """The learning rate's cosine decay."""
        return self._cosine(self.lr, self.lr_end)

    @property
    def beta2_schedule(self) -> Cosine:
        """Adam's $\\beta_2$ on a cosine from ``beta2`` to ``beta2_end``."""
        return self._cosine(self.beta2, self.beta2_end)

    def objective(self) -> Any:
        """``rpgan + r1(gamma=γ_t) + r2(gamma=γ_t)``, γ_t the cosine schedule: an
        ``advloss.Objective`` (its calls need ``step=``)."""
        from advloss.losses import RelativisticPairingLoss
        from advloss.objective import Objective
        from advloss.penalties import R1Penalty, R2Penalty

        gamma = self.gamma_schedule
        return Objective(
            RelativisticPairingLoss(),
            penalties=[R1Penalty(gamma=gamma), R2Penalty(gamma=gamma)],
        )

    def adam(self, step: Any, *, dtype: str = "float32") -> tuple[Any, tuple[Any, Any]]:
        """Adam's ``(lr, (beta1, beta2))`` at ``step``, for both networks: Python floats for a
        Python step, 0-d tensors of the step's framework (in ``dtype``) for a tensor step, so a
        jitted step can take them with no host sync.

        PyTorch: ``for g in opt.param_groups: g["lr"], g["betas"] = recipe.adam(step)``
        (R3GAN's own loop does this).  optax: ``optax.inject_hyperparams(optax.adam)(
        learning_rate=recipe.lr_schedule, b1=0.0, b2=recipe.beta2_schedule)`` (its schedules
        see the optimizer's update count).  Keras: assign ``optimizer.learning_rate`` and
        ``optimizer.beta_2`` before each step (``docs/losses/r3gan.md``)."""
        lr = self.lr_schedule(step, dtype=dtype)
        return lr, (self.BETA1, self.beta2_schedule(step, dtype=dtype))


_register_builtins("recipe", R3GAN)


def available_recipes() -> list[str]:
    """The names ``get_recipe`` accepts (``advloss.registry.available("recipe")``).

    >>> available_recipes()
    ['r3gan']
    """
    return registry.available("recipe")


def parse_recipe(text: str) -> dict[str, Any]:
    """The config dict of a one-term text, ``"name"`` or ``"name(key=literal, ...)"`` (the
    ``Objective.parse`` syntax), without building the recipe (a caller may add defaults).

    >>> parse_recipe("r3gan(gamma=0.1)")
    {'name': 'r3gan', 'gamma': 0.1}
    """
    where = "parse_recipe"
    if not isinstance(text, str):
        raise AdvlossTypeError(f"{where}: text must be a str; received {type(text).__name__}.")
    from advloss._objective_parse import _term

    try:
        node = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise AdvlossValueError(
            f"{where}: cannot parse {text!r} ({err.msg}); expected a name or "
            f"name(key=value, ...), e.g. 'r3gan(gamma=0.05, steps=20000)'."
        ) from None
    name, args, kwargs = _term(where, text, node)
    if args:
        raise AdvlossValueError(
            f"{where}: {name}(...) takes keyword arguments only; received {text!r}."
        )
    return {"name": name, **kwargs}


def get_recipe(spec: Any, **hyperparameters: Any) -> Any:
    """A recipe from a name with keyword hyperparameters, a config dict, a one-term text such
    as ``"r3gan(gamma=0.1, steps=5000)"`` (the ``Objective.parse`` syntax), or a recipe
    (returned as is).  ``hyperparameters`` may not repeat one the text or dict gives.

    >>> get_recipe("r3gan(gamma=0.1)", steps=100)
    R3GAN(steps=100, gamma=0.1, gamma_end=0.01, lr=0.0002, lr_end=5e-05, beta2=0.9, beta2_end=0.99)
    """
    where = "get_recipe"
    if isinstance(spec, str) and "(" in spec:
        spec = parse_recipe(spec)
    if not isinstance(spec, (str, Mapping)) and not registry._KINDS["recipe"].is_object(spec):
        raise AdvlossTypeError(
            f"{where}: expected a recipe name ({available_recipes()}), a config dict, a text "
            f"such as 'r3gan(steps=20000)' or a recipe object; received {type(spec).__name__}."
        )
    return registry._KINDS["recipe"].build(where, spec, hyperparameters)

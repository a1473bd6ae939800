"""The framework-neutral part of every training run (:class:`Loop`): the options checked, the
advloss objective, the augmentation (``--augment``) and its adaptive p, the update-ratio
scheduler, the balance monitor, adaptive instance noise, metrics rows, the progress bar,
evaluations and the summary.

This module imports no framework, so the JAX and TensorFlow trainers
(:class:`reference_trainers.arrays.ArrayLoop`) run without PyTorch; the PyTorch side is
:class:`reference_trainers.session.Session`.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from typing import Any

import advloss
from reference_trainers import augmentation, common
from reference_trainers.config import TrainerConfig


def map_leaves(tree: Any, fn: Callable[[Any], Any]) -> Any:
    """``fn`` applied to every leaf of nested dicts, lists and tuples (``None`` kept)."""
    if isinstance(tree, dict):
        return {k: map_leaves(v, fn) for k, v in tree.items()}
    if isinstance(tree, (list, tuple)):
        return [map_leaves(v, fn) for v in tree]
    return None if tree is None else fn(tree)


class Loop:
    """The framework-neutral part of a training run: options checked, the objective, the
    update-ratio scheduler, the balance monitor, adaptive instance noise, metrics rows, the
    progress bar, evaluations and the summary.  :class:`Session` adds PyTorch (devices, DDP,
    optimizers, AMP, compile, checkpoints); the JAX and TensorFlow DCGANs use
    :class:`reference_trainers.arrays.ArrayLoop`.  Subclasses provide ``run`` (the run
    directory), ``checkpoint``, ``_num`` (a scalar tensor to a Python float) and
    ``_eval_context`` (evaluation mode)."""

    world = 1
    rank = 0

    def __init__(self, cfg: TrainerConfig, trainer: str, *, quality: str | list[str]) -> None:
        self.cfg, self.trainer, self.quality = cfg, trainer, quality
        common.check_counts(cfg)
        self.steps = int(cfg.steps)
        # validates loss / penalty / labels / noise / augmentation before anything slow happens
        objective = common.build_objective(cfg)
        self.augmentation = augmentation.from_options(cfg, objective)
        if objective.augment is not None:  # the loop augments (its draws, its layout)
            objective = advloss.Objective(
                objective.loss, penalties=objective.penalties, labels=objective.labels,
                instance_noise=objective.instance_noise,
            )  # fmt: skip
        self.objective = objective
        # a gradient-normalized D (--gradient-norm) needs per-sample input gradients too
        self.has_penalty = common.input_gradients(self.objective) or getattr(
            cfg, "gradient_norm", False
        )
        #: the explicit state of the objective's stateful terms (the moving averages of lecam
        #: and path_length), by term name: :meth:`init_term_states`, then
        #: :meth:`advance_states` after each step
        self.term_states: dict[str, Any] = {}
        # --recipe: its Adam (lr, (beta1, beta2)) on a schedule, set at every iteration's plan
        self.recipe = common.recipe_of(cfg)
        self.adam: tuple[float, tuple[float, float]] | None = (
            None if self.recipe is None else self.recipe.adam(0)
        )

        # the generator loss of a relativistic loss needs D(real)
        self.needs_real = getattr(self.objective.loss, "generator_needs_real", False)
        #: a generator term on D's intermediate features (feature_matching) needs them on a
        #: real and the generated batch
        self.needs_features = bool(common.feature_terms(self.objective))
        #: a generator term on G and its latents (path_length) needs G and z in the G step
        self.needs_latents = bool(common.latent_terms(self.objective))
        self.step = 0
        self.noise_std: Any = None
        self.augment_p: Any = None  # this iteration's p (ada / apa): a tensor or a number
        self._last: dict[str, Any] = {}
        self.progress: common.Progress | None = None
        self.run: common.Run  # the run directory: set by the subclass
        self.t0 = time.perf_counter()
        self._mark: float | None = None  # training-time clock (steps_per_second)
        self._timed, self._timed_steps, self._skip = 0.0, 0, False

    def penalty_interval(self) -> int:
        """The one lazy-penalty interval of the objective, for the JAX and TF trainers, which
        decide on the host whether the penalty is due (one error for several intervals)."""
        everys = {
            int(getattr(pen, "every", 1))
            for pen in self.objective.penalties
            if not getattr(pen, "stateful", False)
        } or {1}  # lecam: every step, its own
        if len(everys) > 1:
            raise common.TrainerError(
                f"--objective: penalties with different `every` intervals {sorted(everys)}; the "
                "JAX and TF trainers decide on the host whether the (one) lazy penalty is due"
            )
        return everys.pop()

    def latent_regularize(self) -> bool | None:
        """The generator step's ``regularize`` in the JAX and TF trainers: whether the lazy
        term on G's latents (path_length) is due at this step, decided on the host as the
        discriminator's lazy penalty is (two compiled variants; G runs for the term only when
        it is due, as in the PyTorch trainer, whose step is a Python int); None without such a
        term."""
        everys = {
            int(getattr(p, "every", 1))
            for p in self.objective.penalties
            if callable(getattr(p, "latent_term", None))
        }
        if not everys:
            return None
        if len(everys) > 1:
            raise common.TrainerError(
                f"--objective: terms on the generator's latents with different `every` "
                f"intervals {sorted(everys)}; give one"
            )
        return self.step % everys.pop() == 0

    def d_norm(self, requested: str, default: str = "batch") -> str:
        """The discriminator's normalization: ``auto`` means ``default``, or layer norm with a
        gradient penalty (batch norm mixes samples, so per-sample input gradients are wrong)."""
        return common.d_norm_for(requested, self.has_penalty, default)

    def _init_controls(self, zero: Any) -> None:
        """The update-ratio scheduler, the balance monitor and adaptive noise (``zero``: a
        scalar tensor of the training framework, the adaptive noise's starting point)."""
        cfg = self.cfg
        self.ratio: Any = (
            advloss.AdaptiveRatio()
            if cfg.adaptive_ratio
            else advloss.FixedRatio(d_steps=cfg.d_steps, g_steps=cfg.g_steps)
        )
        self.monitor = advloss.BalanceMonitor(decay=0.98, warmup=50)  # ~50-step averages
        self.ratio_state, self.monitor_state = self.ratio.init(), self.monitor.init()
        self.verdict: advloss.balance.Verdict | None = None
        noise = self.objective.instance_noise
        self.ada = noise if isinstance(noise, advloss.AdaptiveNoise) else None
        self.ada_state: Any = self.ada.init(zero) if self.ada else None
        aug = self.augmentation
        self.aug_controller = aug.controller() if aug is not None else None
        self.aug_state: Any = self.aug_controller.init(zero) if self.aug_controller else None

    def init_term_states(self, like: Any) -> None:
        """The initial state of the objective's terms that keep one (``Objective.init_states``),
        as tensors of ``like``'s framework, device and dtype (a 0-d tensor of the training
        dtype); call before a resume restores them."""
        self.term_states = self.objective.init_states(like)

    @property
    def replicas(self) -> Any:
        """``replicas=`` for the objective's calls: the default process group when several
        processes train (torchrun) and a term keeps state — its moving averages must be the
        global batch's on every rank — else None."""
        return True if self.world > 1 and self.term_states else None

    def advance_states(self, out: advloss.ObjectiveOutput) -> None:
        """The terms' states after a D or G step, read from its output's statistics
        (``Objective.next_states``: tensors picked from ``out``, nothing read on the host); the
        other side's terms keep theirs."""
        if self.term_states:
            self.term_states = self.objective.next_states(out, self.term_states)

    def plan(self) -> tuple[int, int]:
        """This iteration's D and G update counts; sets ``noise_std`` (adaptive noise),
        ``augment_p`` (the augmentation's p: adaptive, fixed, or None) and, with a
        ``--recipe``, ``adam``: the optimizers' ``(lr, (beta1, beta2))`` at this step (Python
        floats, the recipe's schedules at the iteration count, as R3GAN's loop sets them
        before each iteration)."""
        self.noise_std = self.ada.std(self.ada_state) if self.ada else None
        if self.aug_controller is not None:
            self.augment_p = self.aug_controller.p(self.aug_state)
        elif self.augmentation is not None:
            self.augment_p = self.augmentation.p
        if self.recipe is not None:
            self.adam = self.recipe.adam(self.step)
        self.planned = self.ratio.plan(self.ratio_state)
        return self.planned

    def augment_draws(
        self, streams: Any, shape: tuple[int, ...], side: str, with_real: bool,
        convert: Callable[[dict[str, Any]], Any],
    ) -> Any:  # fmt: skip
        """One step's augmentation draws from the NumPy ``streams`` (``augment`` stream) for
        batches of NCHW ``shape``, converted to the framework by ``convert``; None without an
        augmentation or without streams (then the augmentation draws from a key)."""
        if self.augmentation is None or streams is None:
            return None
        rng = streams.gens["augment"]
        return convert(self.augmentation.numpy_draws(rng, shape, side, with_real))

    def augment_d(self, real: Any, fake: Any, *, key: Any = None, draws: Any = None,
                  layout: str = "NCHW") -> tuple[Any, Any]:  # fmt: skip
        """The discriminator step's ``(real, fake)`` through the augmentation (as given
        without one)."""
        if self.augmentation is None:
            return real, fake
        return self.augmentation.discriminator_inputs(
            real, fake, self.augment_p, key=key, draws=draws, layout=layout
        )

    def augment_g(self, fake: Any, real: Any, *, key: Any = None, draws: Any = None,
                  layout: str = "NCHW") -> tuple[Any, Any]:  # fmt: skip
        """The generator step's ``(fake, real)`` through the augmentation (``real`` may be
        None)."""
        if self.augmentation is None:
            return fake, real
        return self.augmentation.generator_inputs(
            fake, real, self.augment_p, key=key, draws=draws, layout=layout
        )

    def augment_pair_d(self, cond: Any, real: Any, fake: Any, *, key: Any = None,
                       layout: str = "NCHW") -> tuple[Any, Any, Any]:  # fmt: skip
        """pix2pix's D step: ``(cond, real, fake)`` through the augmentation, one transform on
        every pair (as given without one)."""
        if self.augmentation is None:
            return cond, real, fake
        return self.augmentation.paired_discriminator_inputs(
            cond, real, fake, self.augment_p, key=key, layout=layout
        )

    def augment_pair_g(self, cond: Any, fake: Any, real: Any, *, key: Any = None,
                       layout: str = "NCHW") -> tuple[Any, Any, Any]:  # fmt: skip
        """pix2pix's G step: ``(cond, fake, real)`` through the augmentation (``real`` may be
        None)."""
        if self.augmentation is None:
            return cond, fake, real
        return self.augmentation.paired_generator_inputs(
            cond, fake, real, self.augment_p, key=key, layout=layout
        )

    def record_d_stats(self, stats: dict[str, Any]) -> None:
        """Feed a discriminator step's statistics to the update-ratio scheduler, the
        adaptive noise and the augmentation's adaptive p."""
        self.stats = stats
        self.ratio_state = self.ratio.update(self.ratio_state, stats)
        if self.ada:
            self.ada_state = self.ada.update(self.ada_state, stats["r_t"])
        if self.aug_controller is not None:
            self.aug_state = self.aug_controller.update(self.aug_state, stats["r_t"])

    def controls(self) -> dict[str, Any]:
        """The scheduler, monitor, adaptive-noise and adaptive-p states, for a checkpoint."""
        return {
            "ratio": None if self.ratio_state is None else list(self.ratio_state),
            "monitor": self.monitor_state._asdict(),
            "ada": None if self.ada_state is None else list(self.ada_state),
            "augment": None if self.aug_state is None else list(self.aug_state),
            "terms": {name: dict(st._asdict()) for name, st in self.term_states.items()},
        }

    def load_controls(
        self, ck: dict[str, Any], convert: Callable[[Any], Any] | None = None
    ) -> None:
        """Restore :meth:`controls`; ``convert`` maps every stored number (the leaves of
        :meth:`controls`) back to a tensor of the training framework."""
        ck = {k: ck.get(k) for k in ("ratio", "monitor", "ada", "augment", "terms")}
        if convert is not None:
            ck = map_leaves(ck, convert)
        stored = ck["terms"] or {}
        missing = sorted(set(self.term_states) - set(stored))
        if missing:
            raise common.TrainerError(
                f"--resume: the checkpoint holds no state for the objective's {missing} "
                f"term(s); resume with the options it was written with"
            )
        self.term_states = {
            name: type(st)(*(self._like(stored[name][f], cur)
                             for f, cur in zip(st._fields, st, strict=True)))
            for name, st in self.term_states.items()
        }  # fmt: skip
        if ck["ratio"] is not None:
            self.ratio_state = type(self.ratio_state)(*ck["ratio"])
        self.monitor_state = advloss.balance.MonitorState(**ck["monitor"])
        if ck["ada"] is not None:
            self.ada_state = advloss.AdaptiveNoiseState(*ck["ada"])
        if ck["augment"] is not None:
            self.aug_state = advloss.augment.AdaptiveProbabilityState(*ck["augment"])

    def _num(self, x: Any) -> float:
        raise NotImplementedError

    def _like(self, value: Any, current: Any) -> Any:
        """A restored state tensor on ``current``'s device and dtype (the frameworks' loops
        override this where a checkpoint is read onto another device)."""
        return value

    def _eval_context(self) -> Any:
        return contextlib.nullcontext()

    def checkpoint(self) -> None:
        raise NotImplementedError

    # ---------------------------------------------------------------- after the iteration

    def end_iteration(
        self,
        out: advloss.ObjectiveOutput,
        g_out: advloss.ObjectiveOutput,
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Count the iteration, log a metrics row every ``--log-every`` steps (with ``extra``
        generator terms such as pix2pix's L1), update the progress bar and report balance-regime
        changes.  Returns whether an evaluation (and checkpoint) is due."""
        d_steps, g_steps = self.planned
        self._time_iteration()
        self.monitor_state = self.monitor.update(
            self.monitor_state, self.stats, d_loss=out.total, g_loss=g_out.total
        )
        self.step += 1
        step, cfg = self.step, self.cfg
        if self.rank == 0 and (step % cfg.log_every == 0 or step == self.steps):
            num = self._num  # host reads only when logging
            row: dict[str, Any] = {
                "step": step,
                "d_loss": num(out.total),
                "g_loss": num(g_out.total),
            }
            row.update({f"d_{k}": num(v) for k, v in out.terms.items()})
            row.update({f"g_{k}": num(v) for k, v in {**g_out.terms, **(extra or {})}.items()})
            row.update({
                "d_real_acc": num(out.stats["real_acc"]), "d_fake_acc": num(out.stats["fake_acc"]),
                "d_real": num(out.stats["d_real"]), "d_fake": num(out.stats["d_fake"]),
                "r_t": num(out.stats["r_t"]), "d_steps": d_steps, "g_steps": g_steps,
            })  # fmt: skip
            for name, st in self.term_states.items():  # e.g. lecam.ema_real
                row.update({f"{name}.{f}": num(v) for f, v in zip(st._fields, st, strict=True)})
            if "noise_std" in out.stats:
                row["noise_std"] = num(out.stats["noise_std"])
            p = self.augment_p
            if p is not None:
                row["augment_p"] = float(p) if isinstance(p, (int, float)) else num(p)
            if not all(math.isfinite(row[k]) for k in ("d_loss", "g_loss")):
                row["nonfinite"] = True
            self.run.log(row)
            assert self.progress is not None
            live = {"d": row["d_loss"], "g": row["g_loss"]}
            live.update({k: row[f"g_{k}"] for k in (extra or {})})
            live.update({"acc_r": row["d_real_acc"], "acc_f": row["d_fake_acc"]})
            self.progress.update(step, live)
            new = self.monitor.verdict(
                self.monitor_state, previous=self.verdict, objective=self.objective
            )
            if advloss.BalanceMonitor.changed(self.verdict, new) and new.regime != "warming_up":
                print(f"\nstep {step}: {new}", file=sys.stderr)
            self.verdict = new
        return step % cfg.eval_every == 0 or step == self.steps

    def _time_iteration(self) -> None:
        """Training time without evaluations and without the first iteration after a start
        or an evaluation (compilation, caches warming up): ``steps_per_second``."""
        now = time.perf_counter()
        if self._mark is not None and not self._skip:
            self._timed += now - self._mark
            self._timed_steps += 1
        self._mark, self._skip = now, False

    def untimed(self) -> None:
        """Leave the current iteration out of ``steps_per_second`` (it compiles something)."""
        self._skip = True

    def begin(self, fn: Callable[[int], dict[str, Any]]) -> None:
        """Training starts: the run folder is prepared
        (:meth:`~reference_trainers.common.Run.start`), then the step-0 evaluation of a fresh run (a resumed run has its own)."""
        self.run.start(self.step)
        if self.step == 0:
            self.evaluate(fn)

    def evaluate(self, fn: Callable[[int], dict[str, Any]]) -> None:
        """Run ``fn(step)`` (samples and quality metrics, in eval mode, without gradients) on
        rank 0, log its row, redraw curves.png and write the checkpoint (not at step 0)."""
        if self.rank == 0:
            with self._eval_context():
                row = {"step": self.step, "eval": True, **fn(self.step)}
            self.run.log(row)
            common.plot_curves(self.run.rows(), self.run.dir / "curves.png", self.quality)
            self._last = row
            if self.step > 0:
                self.checkpoint()
        self._after_evaluate()
        self._mark = None  # the next iteration starts the clock again

    def _after_evaluate(self) -> None:
        pass

    def steps_per_second(self) -> float:
        """Training iterations per second, timed as :meth:`_time_iteration` says (NaN when no
        iteration was timed, e.g. with ``--eval-every 1``)."""
        return self._timed_steps / self._timed if self._timed_steps else float("nan")

    def finish(self) -> dict[str, Any]:
        """Check DDP ranks agree, close the progress bar, print the summary; returns the last
        evaluation row (and ``steps_per_second``, which is not logged)."""
        self._before_finish()
        self.run.close()  # the folder's lock
        if self.progress is not None:
            self.progress.close()
        seconds = time.perf_counter() - self.t0
        if self._last:
            summary = ", ".join(
                f"{k} {v:.3g}" for k, v in self._last.items() if isinstance(v, float)
            )
            print(
                f"done: {self.step} steps in {seconds:.0f} s; {summary}; outputs in {self.run.dir}",
                file=sys.stderr,
            )
        return {**self._last, "steps_per_second": self.steps_per_second()}

    def _before_finish(self) -> None:
        pass

"""What the trainers share: the command line and config files, the objective built from them,
the run directory (config.json, metrics.jsonl, samples/, curves.png), atomic checkpoints with
every random state, and one-line errors.

This module imports no framework: the trainers parse and check their options (``--help``,
a bad option, an unwritable ``--out``) before PyTorch, JAX or TensorFlow is imported; the
functions that need PyTorch import it when called."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import hashlib
import json
import math
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

import advloss
from advloss.labels import FlipLabels, SmoothLabels

if TYPE_CHECKING:
    import torch

    from reference_trainers.config import TrainerConfig


class TrainerError(Exception):
    """A user error: printed as one line, exit status 2, no traceback."""


# ------------------------------------------------------------------------------ command line


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help``: the module's docstring as written (examples and outputs), options wrapped."""


def limit_threads(threads: int) -> None:
    """Run every framework's CPU kernels on ``threads`` threads: call before PyTorch, TensorFlow
    or JAX does its first computation (the environment variables are read then; PyTorch's count
    is also set directly when it is already imported). One thread makes float32 results
    reproducible run to run (a reduction split over threads sums in a different order) and keeps
    parallel benchmark workers from slowing each other down."""
    if threads < 1:
        raise ValueError(f"threads: expected an integer >= 1; received {threads!r}")
    n = str(threads)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):  # fmt: skip
        os.environ[var] = n
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if threads == 1:
        flags = os.environ.get("XLA_FLAGS", "")
        if "xla_cpu_multi_thread_eigen" not in flags:
            extra = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
            os.environ["XLA_FLAGS"] = (flags + " " + extra).strip()
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)


#: The kernel's instantaneous scheduler counts (Linux): 4th field ``R/T``, the tasks runnable now
#: (the reader itself included) over all tasks.
LOADAVG = Path("/proc/loadavg")


def runnable_samples(
    samples: int = 5,
    window: float = 0.25,
    path: Path = LOADAVG,
    sleep: Callable[[float], Any] = time.sleep,
) -> list[int] | None:
    """The number of runnable tasks on the machine now, read ``samples`` times from ``path``'s
    4th field (``R/T``) spread evenly over ``window`` seconds; each count includes the reader
    (this process, running while it reads).  ``None`` where the file does not exist or does not
    read as ``/proc/loadavg`` does (macOS, Windows)."""
    counts = []
    for i in range(samples):
        if i:
            sleep(window / (samples - 1))
        try:
            runnable, _, _total = path.read_text().split()[3].partition("/")
            counts.append(int(runnable))
        except (OSError, IndexError, ValueError):
            return None
    return counts


def choose_threads(
    usable: int, runnable: list[int] | None = None, load: float | None = None
) -> tuple[int, str]:
    """The free cores, and why: ``usable`` cores minus the tasks of other processes that are
    runnable now — the median of the ``runnable`` samples (:func:`runnable_samples`; the higher
    middle one for an even count) less one for the reader itself — or, without samples, minus
    the 1-minute load average ``load`` (rounded); at least 1.  A pure function of its arguments.

    The instantaneous count is preferred: the 1-minute average decays slowly, so just after
    other heavy work ends it still counts it and would choose 1 thread on a machine that is idle
    now.  The median ignores a task that runs during one sample only.  Oversubscription costs
    more than an idle core (OpenMP threads that cannot all run spin at every barrier), hence the
    higher middle sample of an even count."""
    if runnable:
        others = max(0, statistics.median_high(runnable) - 1)
        free = max(1, usable - others)
        tasks = f"{others} other runnable task{'s' * (others != 1)}"
        return free, f"{usable} usable cores, {tasks}: median of {len(runnable)} samples"
    if load is not None:
        return max(1, usable - round(load)), f"{usable} usable cores, 1-minute load {load:.2f}"
    return usable, f"{usable} usable cores, no load information"


def default_threads() -> tuple[int, str]:
    """The thread count to use when ``--threads`` is not given, and why: ``OMP_NUM_THREADS``
    when set, else :func:`choose_threads` of the cores this process may use
    (``os.sched_getaffinity``) and the tasks runnable now (:func:`runnable_samples`: 5 reads of
    ``/proc/loadavg`` over 0.25 s), or the 1-minute load average where the system has no
    ``/proc/loadavg``.  On a shared CPU, OpenMP threads that cannot all run spin at every
    barrier: a 2-thread PyTorch step beside another busy process runs several times slower than
    a 1-thread one.  Call it before the framework starts its threads: they would count as
    runnable tasks of other processes."""
    env = os.environ.get("OMP_NUM_THREADS", "")
    if env.isdigit() and int(env) >= 1:
        return int(env), "OMP_NUM_THREADS"
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    runnable = runnable_samples()
    load = None
    if runnable is None:
        try:
            load = os.getloadavg()[0]
        except (AttributeError, OSError):
            load = None
    return choose_threads(usable, runnable, load)


#: The thread choice, printed when training starts (so that an error in the options, the run
#: folder or a resume stays one line).
_THREADS_NOTE: list[str] = []


def apply_threads(requested: int | None, who: str) -> int:
    """Resolve ``--threads`` (``None``: :func:`default_threads`) and apply it with
    :func:`limit_threads`; the choice is printed when training starts (``Run.start``).
    Returns the count."""
    threads, why = (requested, "--threads") if requested is not None else default_threads()
    limit_threads(threads)
    _THREADS_NOTE[:] = [f"{who}: {threads} thread{'s' * (threads != 1)} per framework ({why})"]
    return threads


def common_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """The options every trainer has (help texts end in sentences; :func:`show_defaults` adds
    the defaults once the trainer's own options are in)."""
    p = argparse.ArgumentParser(prog=prog, description=description, formatter_class=HelpFormatter)
    a = p.add_argument
    a("--config", help="A JSON or YAML file of options (keys are the long option names, e.g. "
      "lr_g or lr-g); the command line wins over it, and it wins over --preset. Default: "
      "none.")  # fmt: skip
    a("--preset", choices=["cpu", "gpu"], default="cpu",
      help="Defaults for the sizes, steps and evaluations left unset: cpu (minutes on a laptop "
      "CPU) or gpu (the paper's sizes).")  # fmt: skip
    a("--objective", default=None, metavar="SPEC",
      help="The whole adversarial objective as one advloss.Objective.parse string, e.g. "
      "\"ns + r1(gamma=10, every=16) + smooth(real=0.9) + noise('0.1:0:500')\"; it replaces "
      "--loss, --penalty, --penalty-weight, --penalty-every, --real-label, --flip-prob and "
      "--instance-noise (giving one of them as well is an error). Default: built from those "
      "options.")  # fmt: skip
    a("--loss", default="ns",
      help="The adversarial loss: any registered loss (minimax, ns, lsgan, hinge, wgan, ragan, "
      "rpgan, rp_hinge, rp_lsgan, or a plugin's).")  # fmt: skip
    a("--penalty", default="none",
      help="The discriminator's penalty: none, gp, r1, r2, dragan, maxgp, cr, bcr, zcr "
      "(consistency regularization; zcr's latent perturbation draws from each framework's own "
      "generator, not the NumPy streams), lecam (LeCam, with its moving "
      "averages carried between steps and checkpointed), path_length (the generator's, on its "
      "latent z; the DCGAN trainer only) or a registered penalty.")  # fmt: skip
    a("--penalty-weight", type=float, default=None,
      help="The penalty's weight: lambda for gp, dragan, maxgp and cr, gamma for r1 / r2, "
      "lambda_real = lambda_fake for bcr, lambda_dis for zcr, lambda for lecam and path_length. Default: the penalty's own.")  # fmt: skip
    a("--penalty-every", type=int, default=1,
      help="Lazy regularization: the penalty is applied every k-th discriminator step.")  # fmt: skip
    a("--feature-matching", type=float, default=0.0, metavar="W",
      help="Add feature matching to the generator's objective with weight W "
      "(feature_matching(weight=W): D's mean features below its last layer on a real and the "
      "generated batch, docs/regularizers/feature-matching.md), as \"<loss> + "
      "feature_matching(weight=W)\" in --objective would; the DCGAN trainer only. 0 = off.")  # fmt: skip
    a("--spectral-norm", action="store_true",
      help="Spectral normalization on the discriminator's layers.")  # fmt: skip
    a("--real-label", type=float, default=1.0,
      help="One-sided label smoothing: the target for real samples, e.g. 0.9; 1.0 = no "
      "smoothing.")  # fmt: skip
    a("--flip-prob", type=float, default=0.0,
      help="Label flipping: the probability that a sample's real / fake target is swapped in "
      "the discriminator's loss; 0 = no flipping.")  # fmt: skip
    a("--instance-noise", default=None, metavar="START[:END:STEPS]",
      help="Instance noise on the discriminator's inputs: a constant std, a linear schedule "
      "from START to END over STEPS steps, or 'adaptive'. Default: no noise.")  # fmt: skip
    a("--augment", choices=["none", "diffaug", "ada", "apa"], default="none",
      help="Augment what the discriminator sees (docs/augment.md): diffaug (DiffAugment on "
      "every real and fake, in both steps), ada (StyleGAN2-ADA's pipeline, each transform with "
      "probability p) or apa (reals replaced by detached fakes with probability p). Applied to "
      "D's reals and fakes, and to G's fakes (G is trained through the augmentation).")  # fmt: skip
    a("--augment-policy", default=None, metavar="POLICY",
      help="The augmentation's transforms: DiffAugment's policy for diffaug (e.g. color,cutout), "
      "ADA's operation set for ada (e.g. bgc). Default: color,translation,cutout for diffaug, "
      "bgc for ada.")  # fmt: skip
    a("--augment-p", type=float, default=None, metavar="P",
      help="A fixed probability p for ada or apa. Default: adaptive (--augment-target).")  # fmt: skip
    a("--augment-target", type=float, default=None, metavar="R",
      help="Adapt ada's or apa's p so that D's r_t = mean sign D(real) stays near R "
      "(StyleGAN2-ADA's heuristic). Default: 0.6 unless --augment-p is given.")  # fmt: skip
    a("--augment-kimg", type=float, default=None, metavar="K",
      help="The speed of an adaptive p: the thousands of real images p needs to move by 1 "
      "(StyleGAN2-ADA's ada_kimg; lower it for short runs, e.g. 50). Default: 500.")  # fmt: skip
    a("--d-steps", type=int, default=1, help="Discriminator updates per iteration.")
    a("--g-steps", type=int, default=1, help="Generator updates per iteration.")
    a("--adaptive-ratio", action="store_true",
      help="Adapt the D:G update ratio to keep D's accuracy within 40-60%% (overrides "
      "--d-steps / --g-steps).")  # fmt: skip
    a("--lr-g", type=float, default=2e-4, help="The generator's Adam learning rate.")
    a("--lr-d", type=float, default=2e-4, help="The discriminator's Adam learning rate.")
    a("--beta1", type=float, default=0.5, help="Adam's beta1 (first-moment decay), both networks.")
    a("--beta2", type=float, default=0.999,
      help="Adam's beta2 (second-moment decay), both networks.")  # fmt: skip
    a("--batch-size", type=int, default=None,
      help="Samples per training batch (under torchrun: the global batch, split over the "
      "processes).")  # fmt: skip
    a("--steps", type=int, default=None,
      help="Training iterations (each: --d-steps D updates, then --g-steps G updates).")  # fmt: skip
    a("--seed", type=int, default=0,
      help="The random seed of the initial weights, the data order, the latents and advloss's "
      "random numbers.")  # fmt: skip
    a("--device", choices=["auto", "cpu", "cuda"], default="auto",
      help="Where to train: auto = a CUDA GPU when there is one, else the CPU.")  # fmt: skip
    a("--amp", choices=["none", "bf16", "fp16"], default=None,
      help="Mixed precision (autocast) in bfloat16 or float16; PyTorch only. Default: none with "
      "the cpu preset, bf16 with the gpu preset.")  # fmt: skip
    a("--compile", action="store_true",
      help="Compile the networks with torch.compile (TensorFlow: XLA).")  # fmt: skip
    a("--channels-last", action=argparse.BooleanOptionalAction, default=None,
      help="The channels_last memory format for networks and batches; PyTorch only. Default: "
      "off with the cpu preset, on with the gpu preset.")  # fmt: skip
    a("--data", default=None, help="The training data: a built-in dataset's name or a folder.")
    a("--out", default=None,
      help="The run folder (config.json, metrics.jsonl, samples/, curves.png, the checkpoint). "
      "Default: a new runs/<trainer>-<loss>-<penalty>-seed<seed> folder.")  # fmt: skip
    a("--resume", action="store_true",
      help="Continue the run in --out from its checkpoint (no checkpoint there: start the run "
      "afresh).")  # fmt: skip
    a("--overwrite", action="store_true",
      help="Start afresh in an --out that holds a run: its run files (config.json, "
      "metrics.jsonl, the checkpoint, samples, curves.png) are deleted first.")  # fmt: skip
    a("--eval-every", type=int, default=None,
      help="Steps between evaluations (samples, quality metrics and a checkpoint).")  # fmt: skip
    a("--log-every", type=int, default=None, help="Steps between metrics rows.")
    a("--threads", type=int, default=None,
      help="CPU threads of the framework's kernels (printed at the start; command line only, "
      "not part of the run's config). Default: OMP_NUM_THREADS if set, else the free cores (usable cores "
      "minus the other tasks runnable now, the median of 5 reads of /proc/loadavg over 0.25 s; "
      "the 1-minute load average where there is none; at least 1).")  # fmt: skip
    return p


def set_help(parser: argparse.ArgumentParser, dest: str, text: str) -> None:
    """Replace the help text of the option stored in ``dest``."""
    next(a for a in parser._actions if a.dest == dest).help = text


def show_defaults(
    parser: argparse.ArgumentParser, presets: dict[str, dict] | None = None
) -> argparse.ArgumentParser:
    """End the help of every option that takes a value with its default: ``Default: X.``, or
    the presets' values for an option a preset sets (``Default: 16 (cpu preset), 64 (gpu
    preset).``).  Texts that state their default already are left as they are; flags are off
    unless given."""
    for action in parser._actions:
        text = action.help
        if not action.option_strings or not text or text == argparse.SUPPRESS:
            continue
        if "%(default)" in text or "Default:" in text:
            continue
        if action.default is None:
            values = [f"{p[action.dest]} ({name} preset)" for name, p in (presets or {}).items()
                      if action.dest in p]  # fmt: skip
            given = [p[action.dest] for p in (presets or {}).values() if action.dest in p]
            if len(given) == len(presets or {}) and len(set(map(str, given))) == 1:
                values = [str(given[0])]  # the same in every preset
            if values:
                action.help = f"{text} Default: {', '.join(values)}."
        elif action.nargs != 0:  # an option with a value (flags: off unless given)
            action.help = f"{text} Default: %(default)s."
    return parser


def resolve(
    parser: argparse.ArgumentParser, argv: list[str] | None, presets: dict[str, dict]
) -> dict[str, Any]:
    """Command line > config file > preset > parser defaults, as one plain dict (the trainers
    make it their frozen config: :meth:`reference_trainers.config.TrainerConfig.from_options`)."""
    args = parser.parse_args(argv)
    explicit = {k for k in vars(args) if _given(parser, argv, k)}
    config: dict[str, Any] = dict(vars(args))
    for key in RUN_ONLY:  # how to run, not what: main() applies it, config.json omits it
        config.pop(key, None)
    file_values: dict[str, Any] = {}
    if args.config:
        file_values = _read_config(args.config)
        known = set(config)
        unknown = sorted(set(file_values) - known)
        if unknown:
            raise TrainerError(f"--config {args.config}: unknown options {unknown}")
    preset = presets[args.preset]
    torch_run = config.get("framework", "torch") == "torch"
    for key, value in preset.items():
        if key in TORCH_ONLY and not torch_run:
            continue  # the gpu preset's AMP / channels_last are PyTorch's: not an error in JAX/TF
        if key not in explicit and key not in file_values and config.get(key) is None:
            config[key] = value
    actions = {a.dest: a for a in parser._actions}
    for key, value in file_values.items():
        if key not in explicit:
            config[key] = _checked(args.config, actions[key], value)
    for key, value in FALLBACKS.items():  # options no preset set: their plain default
        if key in config and config[key] is None:
            config[key] = value
    return config


#: Options of how a run executes, not of what it computes: not in the config (config.json).
RUN_ONLY = ("threads",)
#: Preset options that only the PyTorch trainer has.
TORCH_ONLY = ("amp", "channels_last")
#: The default of an option whose parser default is None so that a preset can set it.
FALLBACKS = {"amp": "none"}


def _checked(path: str, action: argparse.Action, value: Any) -> Any:
    """A config-file value converted and checked like the same option on the command line."""
    flag = action.option_strings[0] if action.option_strings else action.dest
    if value is not None and action.type is not None and isinstance(value, str):
        try:
            value = action.type(value)  # type: ignore[operator]
        except (TypeError, ValueError):
            raise TrainerError(f"--config {path}: {flag} {value!r} is not valid") from None
    if action.type in (int, float) and value is not None:
        # Numbers written in the file arrive as numbers: 1e400 is inf, 2.5 is no step count.
        number = isinstance(value, (int, float)) and not isinstance(value, bool)
        if not number or not math.isfinite(value):
            kind = "an int" if action.type is int else "a finite number"
            raise TrainerError(f"--config {path}: {flag} must be {kind}; received {value!r}")
        if action.type is int:
            if isinstance(value, float) and not value.is_integer():
                raise TrainerError(f"--config {path}: {flag} must be an int; received {value!r}")
            value = int(value)
    if action.choices is not None and value not in action.choices:
        choices = ", ".join(str(c) for c in action.choices)
        raise TrainerError(f"--config {path}: {flag} {value!r}; expected one of {choices}")
    return value


def _given(parser: argparse.ArgumentParser, argv: list[str] | None, dest: str) -> bool:
    argv = sys.argv[1:] if argv is None else argv
    for action in parser._actions:
        if action.dest == dest:
            return any(a == o or a.startswith(o + "=") for a in argv for o in action.option_strings)
    return False


def _read_config(path: str) -> dict[str, Any]:
    p = Path(path)
    if not p.is_file():
        raise TrainerError(f"--config: no such file {path}")
    text = p.read_text()
    try:
        if p.suffix in (".yaml", ".yml"):
            data = _load_yaml(text)
        else:
            data = json.loads(text, object_pairs_hook=_unique_keys)
    except _DuplicateKey as err:
        raise TrainerError(f"--config {path}: the option {err} is given twice") from None
    except Exception as err:
        raise TrainerError(f"--config {path}: cannot parse ({err})") from None
    if not isinstance(data, dict):
        raise TrainerError(f"--config {path}: expected a mapping of options")
    return {k.replace("-", "_"): v for k, v in data.items()}


class _DuplicateKey(Exception):
    """A key given twice in one mapping of a config file (JSON and YAML keep the last silently)."""


def _unique_keys(pairs: list[tuple[Any, Any]]) -> dict[Any, Any]:
    data: dict[Any, Any] = {}
    for key, value in pairs:
        if key in data:
            raise _DuplicateKey(repr(key))
        data[key] = value
    return data


def _load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses a key given twice in one mapping."""
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    def mapping(loader: Any, node: Any, deep: bool = False) -> dict[Any, Any]:
        loader.flatten_mapping(node)
        pairs = [
            (loader.construct_object(k, deep=deep), loader.construct_object(v, deep=deep))
            for k, v in node.value
        ]
        return _unique_keys(pairs)

    Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, mapping)
    return yaml.load(text, Loader=Loader)  # a SafeLoader subclass: no Python objects


#: the options --objective replaces, with their defaults
OBJECTIVE_OPTIONS = {"loss": "ns", "penalty": "none", "penalty_weight": None, "penalty_every": 1,
                     "real_label": 1.0, "flip_prob": 0.0, "instance_noise": None}  # fmt: skip


def feature_terms(objective: advloss.Objective) -> list[str]:
    """The names of ``objective``'s generator terms on D's intermediate features
    (feature_matching): the generator step must pass ``features=``."""
    return [
        getattr(p, "name", type(p).__name__)
        for p in objective.penalties
        if callable(getattr(p, "features_term", None))
    ]


def refuse_feature_terms(cfg: TrainerConfig, trainer: str) -> None:
    """A one-line error for a feature-matching term in a trainer whose discriminator does not
    expose its intermediate features (pix2pix's PatchGAN; the DCGANs' do)."""
    names = feature_terms(build_objective(cfg))
    if names:
        raise TrainerError(
            f"{names[0]}: the {trainer} trainer's discriminator does not expose its "
            "intermediate features; use the DCGAN trainer or your own loop "
            "(docs/regularizers/feature-matching.md)"
        )


def latent_terms(objective: advloss.Objective) -> list[str]:
    """The names of ``objective``'s generator terms on G and its latents (path_length): the
    generator step must pass ``generator=`` and ``latent=`` (the DCGANs: G and z)."""
    return [
        getattr(p, "name", type(p).__name__)
        for p in objective.penalties
        if callable(getattr(p, "latent_term", None))
    ]


def refuse_latent_terms(cfg: TrainerConfig, trainer: str) -> None:
    """A one-line error for a term on the generator's latents in a trainer whose generator
    has none (pix2pix maps an image; the DCGANs' map z)."""
    names = latent_terms(build_objective(cfg))
    if names:
        raise TrainerError(
            f"{names[0]}: the {trainer} trainer's generator maps an input image, not a latent, "
            "so there is no latent to differentiate; use the DCGAN trainer or your own loop "
            "(docs/regularizers/path-length.md)"
        )


def input_gradients(objective: advloss.Objective) -> bool:
    """Whether a penalty of ``objective`` differentiates D with respect to its inputs per
    sample (every penalty but the terms with explicit state — on D's logits, such as lecam, or
    on G and its latents, such as path_length — and the generator's terms on D's features,
    such as feature_matching): then batch norm in D is wrong and ``torch.compile`` cannot
    differentiate D twice."""
    return any(
        not getattr(p, "stateful", False) and not callable(getattr(p, "features_term", None))
        for p in objective.penalties
    )


#: the optimizer options a --recipe replaces, with their defaults
OPTIMIZER_OPTIONS = {"lr_g": 2e-4, "lr_d": 2e-4, "beta1": 0.5, "beta2": 0.999}


def recipe_of(cfg: TrainerConfig) -> Any:
    """The ``--recipe`` (an :mod:`advloss.recipes` object, its decays over ``--steps`` unless
    the spec says ``steps=``), or None; one-line errors for a bad spec and for options the
    recipe replaces given as well."""
    spec = getattr(cfg, "recipe", None)  # the DCGAN trainer's option
    if spec is None:
        return None
    given = [k for k, default in OBJECTIVE_OPTIONS.items() if getattr(cfg, k) != default]
    given += [k for k, default in OPTIMIZER_OPTIONS.items() if getattr(cfg, k) != default]
    given += ["objective"] if cfg.objective is not None else []
    if given:
        flags = ", ".join("--" + k.replace("_", "-") for k in given)
        raise TrainerError(
            f"--recipe with {flags}: the recipe sets the objective and the optimizer's "
            f"schedules; drop those options (or give the recipe's hyperparameters, e.g. "
            f"--recipe 'r3gan(gamma=0.1)')"
        )
    try:
        config = advloss.recipes.parse_recipe(spec)
        if config["name"] == "r3gan":
            config.setdefault("steps", int(cfg.steps))  # the decays over the whole run
        recipe = advloss.recipes.get_recipe(config)
    except advloss.AdvlossError as err:
        raise TrainerError(f"--recipe {spec!r}: {err}") from None
    if not callable(getattr(recipe, "adam", None)):
        raise TrainerError(
            f"--recipe {spec!r}: the trainers apply recipes with an adam(step) optimizer "
            f"schedule (as advloss.recipes.R3GAN has); this one has none"
        )
    return recipe


def build_objective(cfg: TrainerConfig) -> advloss.Objective:
    """The advloss objective the options describe: ``--recipe``'s, ``--objective``'s spec
    parsed by :meth:`advloss.Objective.parse`, or built from the separate options (clear
    errors for impossible combinations), with ``--feature-matching``'s term added."""
    return with_feature_matching(_base_objective(cfg), getattr(cfg, "feature_matching", 0.0))


def with_feature_matching(objective: advloss.Objective, weight: float) -> advloss.Objective:
    """``objective`` with ``feature_matching(weight=weight)`` added (``--feature-matching W``;
    unchanged for 0); one-line errors for a negative or non-finite weight and for an objective
    that has a feature-matching term already."""
    if not (math.isfinite(weight) and weight >= 0):
        raise TrainerError(
            f"--feature-matching: expected a finite weight >= 0 (0 = off); received {weight}"
        )
    if weight == 0:
        return objective
    names = feature_terms(objective)
    if names:
        raise TrainerError(
            f"--feature-matching with an objective that has {names[0]} already: give the term "
            "once (drop --feature-matching or the term in --objective)"
        )
    term = advloss.get_penalty("feature_matching", weight=weight)
    return advloss.Objective(
        objective.loss, penalties=[*objective.penalties, term], labels=objective.labels,
        instance_noise=objective.instance_noise, augment=objective.augment,
    )  # fmt: skip


def _base_objective(cfg: TrainerConfig) -> advloss.Objective:
    """:func:`build_objective` without ``--feature-matching``."""
    recipe = recipe_of(cfg)
    if recipe is not None:
        return recipe.objective()
    spec = cfg.objective
    if spec is not None:
        given = [k for k, default in OBJECTIVE_OPTIONS.items() if getattr(cfg, k) != default]
        if given:
            flags = ", ".join("--" + k.replace("_", "-") for k in given)
            raise TrainerError(
                f"--objective with {flags}: the spec already says the whole objective; put "
                f'those terms in it instead (e.g. "{cfg.loss} + r1(gamma=10)")'
            )
        try:
            objective = advloss.Objective.parse(spec)
        except advloss.AdvlossError as err:
            raise TrainerError(f"--objective {spec!r}: {err}") from None
        return objective
    penalties: list[Any] = []
    if cfg.penalty != "none":
        default = advloss.get_penalty(cfg.penalty)
        config = default.config() if callable(getattr(default, "config", None)) else {}
        kwargs: dict[str, Any] = {}
        if "every" in config or not config:
            kwargs["every"] = cfg.penalty_every
        elif cfg.penalty_every != 1:
            raise TrainerError(f"--penalty-every with --penalty {cfg.penalty}: it is not lazy")
        if cfg.penalty_weight is not None:
            # gamma for the zero-centred r1 / r2, the weight λ for gp, dragan, maxgp and cr,
            # λ_real = λ_fake for bcr, λ_dis for zcr
            names = [k for k in ("weight", "dis_weight") if k in config]
            if "real_weight" in config:
                names = ["real_weight", "fake_weight"]
            for name in names or ["gamma"]:
                kwargs[name] = cfg.penalty_weight
        penalties.append(advloss.get_penalty(cfg.penalty, **kwargs))
    labels: list[Any] = []
    if cfg.real_label != 1.0:
        labels.append(SmoothLabels(real=cfg.real_label))
    if cfg.flip_prob:
        labels.append(FlipLabels(p=cfg.flip_prob))
    noise = cfg.instance_noise
    return advloss.Objective(cfg.loss, penalties=penalties, labels=labels, instance_noise=noise)


#: the options that count something (iterations, samples, steps between events): each >= 1
COUNTS = ("steps", "batch_size", "eval_every", "log_every", "d_steps", "g_steps")
#: the built-in datasets of --data (anything else is a folder)
DATASETS = ("digits", "stacked-digits")


def check_counts(cfg: TrainerConfig) -> None:
    for key in COUNTS:
        value = getattr(cfg, key)
        if int(value) < 1:
            raise TrainerError(f"--{key.replace('_', '-')} must be >= 1; received {value}")


def d_norm_for(requested: str, has_penalty: bool, default: str = "batch") -> str:
    """The discriminator's normalization: ``auto`` means ``default``, or layer norm with a
    gradient penalty (batch norm mixes samples, so per-sample input gradients are wrong)."""
    norm = requested if requested != "auto" else ("layer" if has_penalty else default)
    if norm == "batch" and has_penalty:
        raise TrainerError(
            "--d-norm batch with a gradient penalty (or --gradient-norm): per-sample "
            "gradients are wrong under batch norm; use layer, instance or none"
        )
    return norm


def check_options(cfg: TrainerConfig) -> None:
    """The checks that need no framework, made before one is imported: the counts, the advloss
    objective (loss, penalty, label transforms, instance noise), ``--augment`` and
    ``--d-norm``."""
    check_counts(cfg)
    objective = build_objective(cfg)
    from reference_trainers import augmentation

    augmentation.from_options(cfg, objective)
    d_norm = getattr(cfg, "d_norm", None)  # both trainers have it
    if d_norm is not None:
        d_norm_for(d_norm, input_gradients(objective) or getattr(cfg, "gradient_norm", False))


def check_data_source(name: str) -> None:
    """``--data`` of the DCGAN trainer: a built-in dataset or an existing folder."""
    if name not in DATASETS and not Path(name).is_dir():
        raise TrainerError(
            f"--data {name}: no such folder (expected digits, stacked-digits or a folder of "
            f"images, IDX files or CIFAR-10 binary batches)"
        )


def channels_last(objective: advloss.Objective) -> advloss.Objective:
    """``objective`` for channels-last batches (the JAX and TF trainers): the transforms of its
    consistency terms (``cr``, ``bcr``) and its terms on the generator's images
    (``path_length``: where H and W are) with ``layout="NHWC"``."""
    penalties = []
    for p in objective.penalties:
        transform: Any = getattr(p, "augment", None)
        if getattr(p, "image_batches", False) and hasattr(transform, "layout"):
            p = dataclasses.replace(p, augment=dataclasses.replace(transform, layout="NHWC"))
        elif callable(getattr(p, "latent_term", None)) and getattr(p, "layout", None) == "NCHW":
            p = dataclasses.replace(p, layout="NHWC")
        penalties.append(p)
    return advloss.Objective(
        objective.loss, penalties=penalties, labels=objective.labels,
        instance_noise=objective.instance_noise, augment=objective.augment,
    )  # fmt: skip


def torch_only_options(cfg: TrainerConfig, framework: str) -> None:
    """The options only the PyTorch trainer has: one-line errors elsewhere."""
    name = {"jax": "JAX", "tf": "TensorFlow"}[framework]
    if cfg.amp != "none":
        raise TrainerError(f"--amp {cfg.amp}: mixed precision is PyTorch-only in this trainer")
    if cfg.channels_last:
        raise TrainerError(f"--channels-last: the {name} trainer is channels-last already")
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise TrainerError(f"torchrun / DDP: the {name} trainer runs in one process")
    if cfg.compile and framework == "jax":
        raise TrainerError("--compile: the JAX trainer's steps are always jax.jit-compiled")


def pick_device(name: str) -> torch.device:
    import torch

    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise TrainerError("--device cuda: no CUDA device is available")
    return torch.device(name)


# ------------------------------------------------------------------------------- run directory


#: the files of a run in its folder (what a fresh run refuses to mix with, and --overwrite
#: deletes): options, metrics, checkpoints with their checksums and unfinished writes, curves
CHECKPOINTS = ("checkpoint.pt", "checkpoint.npz")
RUN_FILES = ("config.json", "metrics.jsonl", *CHECKPOINTS)
LEFTOVERS = (
    "curves.png",
    "config.json.tmp",
    "metrics.jsonl.tmp",
    *(f"{c}{suffix}" for c in CHECKPOINTS for suffix in (".tmp", ".sha256", ".sha256.tmp")),
)
LOCK = "run.lock"


class Run:
    """The run directory: config.json, metrics.jsonl, samples/, curves.png and the checkpoint
    (``checkpoint.pt`` for PyTorch, ``checkpoint.npz`` for the JAX and TensorFlow trainers)
    with its SHA-256 checksum (``checkpoint.pt.sha256``).

    Opened before the data and networks are built: the folder is checked to be writable and
    locked (``run.lock``, holding the process id) for the run's lifetime, so a second trainer on
    the same ``--out`` is refused.  A fresh run refuses a folder that holds a run unless
    ``overwrite`` (which deletes the run files first); ``resume`` without a checkpoint starts
    afresh (:attr:`resuming` is False).  ``write=False`` (DDP ranks other than 0): no lock,
    nothing written, the checkpoint only read."""

    def __init__(
        self,
        out: str,
        config: TrainerConfig,
        resume: bool,
        *,
        write: bool = True,
        checkpoint: str = "checkpoint.pt",
        overwrite: bool = False,
    ) -> None:
        self.dir = Path(out)
        self.config = config.as_dict()  # as config.json and the checkpoints store it
        self.write = write  # False on DDP ranks other than 0: they only read checkpoints
        self.checkpoint_path = self.dir / checkpoint
        self.metrics_path = self.dir / "metrics.jsonl"
        self._lock: Any = None
        if write:
            check_writable(self.dir)
            self._lock = lock_folder(self.dir)
        try:
            if resume and overwrite:
                raise TrainerError("--resume with --overwrite: choose one")
            self.resuming = resume and self.checkpoint_path.is_file()
            if resume and not self.resuming:
                other = [n for n in CHECKPOINTS if n != checkpoint and (self.dir / n).is_file()]
                if other:
                    by = "--framework torch" if other[0].endswith(".pt") else "jax or tf"
                    raise TrainerError(
                        f"--resume: no checkpoint ({checkpoint}) in {self.dir} (it holds "
                        f"{other[0]}, written by the {by} trainer)"
                    )
                if write:
                    print(
                        f"--resume: no checkpoint in {self.dir} yet; starting the run afresh",
                        file=sys.stderr,
                    )
            elif not resume and write and not overwrite and holds_run(self.dir):
                found = next(n for n in RUN_FILES if (self.dir / n).exists())
                raise TrainerError(
                    f"{self.dir} already holds a run ({found}); pass --resume to continue it, "
                    f"--overwrite to replace it, or choose another --out"
                )
            if self.resuming:
                check_same_options(self.dir / "config.json", self.config)
        except BaseException:
            self.close()
            raise

    def start(self, step: int) -> None:
        """Training begins (nothing is written before, so an error in the data or the networks
        leaves the folder as it was).  A fresh run deletes what an earlier one left (rows of a
        run killed before its first checkpoint; the run files with ``--overwrite``); a resumed
        one drops the rows written after its checkpoint (``step``).  Either stores this
        command's options in ``config.json``."""
        for note in _THREADS_NOTE:  # the --threads choice, once the run really starts
            print(note, file=sys.stderr)
        _THREADS_NOTE.clear()
        if not self.write:
            return
        if self.resuming:
            self.truncate_metrics(step)
        else:
            clear_run_files(self.dir)
            (self.dir / "samples").mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.config, indent=1, sort_keys=True)
        write_text_atomic(self.dir / "config.json", text)

    def close(self) -> None:
        """Release the folder's lock (at the end of the run; also on errors)."""
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def truncate_metrics(self, step: int) -> None:
        """Drop rows written after ``step`` (by a run interrupted after its last checkpoint) and
        a last line cut short by a kill; rewritten atomically."""
        if not self.write or not self.metrics_path.exists():
            return
        keep = [r for r in self.rows() if r["step"] <= step]  # rows of step <= S precede ckpt S
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def log(self, row: dict[str, Any]) -> None:
        if not self.write:
            return
        with self.metrics_path.open("a") as fh:
            fh.write(json.dumps(row) + "\n")

    def rows(self) -> list[dict[str, Any]]:
        """The metrics rows (a last line cut short by a kill is left out)."""
        if not self.metrics_path.exists():
            return []
        out = []
        for line in self.metrics_path.read_text().splitlines():
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
        return out

    def save(self, state: dict[str, Any]) -> None:
        """Write the checkpoint (with the run's options) atomically, with its checksum: a crash
        mid-write leaves the previous one intact (:func:`save_checked`)."""
        import torch

        save_checked(
            self.checkpoint_path, lambda fh: torch.save({**state, "config": self.config}, fh)
        )

    def load(self) -> dict[str, Any]:
        """The checkpoint, once its checksum and the options it was written with are checked."""
        import torch

        verify_checksum(self.checkpoint_path)
        try:
            ck = torch.load(self.checkpoint_path, map_location="cpu", weights_only=True)
        except Exception as err:
            raise TrainerError(
                f"--resume: the checkpoint {self.checkpoint_path} cannot be read ({type(err).__name__}); "
                f"it is corrupt or from another version"
            ) from None
        if isinstance(ck.get("config"), dict):
            compare_options(ck["config"], self.config, f"the checkpoint {self.checkpoint_path}")
        return ck


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` holds any run file (options, metrics or a checkpoint)."""
    return any((folder / name).exists() for name in RUN_FILES)


def clear_run_files(folder: Path) -> None:
    """Delete the run files of ``folder`` (and its samples' PNGs); nothing else in it."""
    for name in (*RUN_FILES, *LEFTOVERS):
        (folder / name).unlink(missing_ok=True)
    samples = folder / "samples"
    if samples.is_dir():
        for png in samples.glob("step_*.png"):
            png.unlink()


def check_writable(folder: Path) -> None:
    """``--out`` is, or can be made, a folder this process can write: a one-line error now
    rather than a traceback once the data and networks are built."""
    if folder.exists() and not folder.is_dir():
        raise TrainerError(f"--out {folder}: is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as err:
        reason = err.strerror or type(err).__name__
        raise TrainerError(f"--out {folder}: cannot write there ({reason})") from None


# ------------------------------------------------------------------------ the folder's lock

_HELD: dict[str, Any] = {}  # the run folders this process has locked (resolved path -> lock)


class _FolderLock:
    """An exclusive lock on ``folder/run.lock`` (the ``filelock`` package: ``flock`` on POSIX,
    ``msvcrt`` on Windows), held until :meth:`release` or the process ends (a killed run leaves
    no stale lock).  The holder's process id is in ``run.lock.pid``, for the error message."""

    def __init__(self, folder: Path) -> None:
        import filelock

        self.key = str(folder.resolve())
        self.path = folder / LOCK
        self.pid_path = self.path.with_name(LOCK + ".pid")
        if self.key in _HELD:
            raise self._busy(str(os.getpid()))
        self.lock: Any = filelock.FileLock(str(self.path), timeout=0)
        try:
            self.lock.acquire()
        except filelock.Timeout:
            raise self._busy(self._holder()) from None
        self.pid_path.write_text(f"{os.getpid()}\n")
        _HELD[self.key] = self

    def _holder(self) -> str:
        """The holder's pid (it writes it just after locking: read twice)."""
        for _ in range(2):
            pid = self.pid_path.read_text().strip() if self.pid_path.exists() else ""
            if pid:
                return pid
            time.sleep(0.2)
        return "?"

    def _busy(self, pid: str) -> TrainerError:
        return TrainerError(
            f"--out {self.path.parent}: another run (pid {pid}) is using this folder; wait for "
            f"it to end or choose another --out"
        )

    def release(self) -> None:
        _HELD.pop(self.key, None)
        if self.lock is not None:
            self.lock.release()
            self.lock = None


def lock_folder(folder: Path) -> _FolderLock:
    """Lock a run folder for this process (one-line error naming the holder's pid)."""
    return _FolderLock(folder)


def release_locks() -> None:
    """Release every run folder this process still holds (a command that ended in an error)."""
    for lock in list(_HELD.values()):
        lock.release()


# ------------------------------------------------------------------ atomic files, checksums


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # not possible on every platform
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file, synced, then renamed."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save_checked(path: Path, write: Callable[[Any], None]) -> None:
    """Write a checkpoint atomically with its SHA-256 in ``<name>.sha256`` (``sha256sum``
    format).  Order: the checkpoint to ``<name>.tmp`` (synced), its checksum to
    ``<name>.sha256.tmp`` (synced), then both renamed, checkpoint first.  A kill at any point
    leaves a checkpoint that verifies (:func:`verify_checksum`): the previous one with its
    checksum, or the new one whose checksum is still in ``.sha256.tmp``."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as fh:
        write(fh)
        fh.flush()
        os.fsync(fh.fileno())
    sums = checksum_path(path)
    sums_tmp = sums.with_name(sums.name + ".tmp")
    with open(sums_tmp, "w") as fh:
        fh.write(f"{sha256_of(tmp)}  {path.name}\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    os.replace(sums_tmp, sums)
    _fsync_dir(path.parent)


def verify_checksum(path: Path) -> None:
    """Check a checkpoint against its ``.sha256`` (or a ``.sha256.tmp`` left by a save killed
    between its two renames): a one-line error naming the file when neither matches.  A
    checkpoint without any checksum (written before checksums existed) is read with a warning."""
    sums = checksum_path(path)
    expected = []
    for candidate in (sums, sums.with_name(sums.name + ".tmp")):
        try:
            expected.append(candidate.read_text().split()[0])
        except (OSError, IndexError):
            continue
    if not expected:
        print(f"warning: {path} has no checksum ({sums.name}); it is read unverified "
              f"(written by an older version)", file=sys.stderr)  # fmt: skip
        return
    if sha256_of(path) not in expected:
        raise TrainerError(
            f"--resume: the checkpoint {path} does not match its checksum ({sums.name}): it is "
            f"corrupt; restore it or start again with --overwrite"
        )


def rng_state(generators: dict[str, torch.Generator]) -> dict[str, Any]:
    import torch

    state = {
        "torch": torch.get_rng_state(),
        "numpy": _np_state(),
        "python": _py_state(),
    }
    state.update({f"gen.{k}": g.get_state() for k, g in generators.items()})
    if torch.cuda.is_available():
        state["cuda"] = torch.stack(torch.cuda.get_rng_state_all())
    return state


def set_rng_state(state: dict[str, Any], generators: dict[str, torch.Generator]) -> None:
    import torch

    torch.set_rng_state(state["torch"])
    np_state = state["numpy"]
    np.random.set_state((np_state[0], np.array(np_state[1], dtype=np.uint32), *np_state[2:]))
    py = state["python"]
    random.setstate((py[0], tuple(py[1]), py[2]))
    for k, g in generators.items():
        g.set_state(state[f"gen.{k}"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


def _np_state() -> list[Any]:
    s: Any = np.random.get_state()
    return [s[0], s[1].tolist(), int(s[2]), int(s[3]), float(s[4])]


def _py_state() -> list[Any]:
    s = random.getstate()
    return [s[0], list(s[1]), s[2]]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    import torch

    torch.manual_seed(seed)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """An exclusive, blocking lock on ``path`` (the ``filelock`` package), so that processes
    that start together build a shared cache once."""
    import filelock

    path.parent.mkdir(parents=True, exist_ok=True)
    with filelock.FileLock(str(path)):
        yield


# ------------------------------------------------------------------------------------ output


class Progress:
    """The training progress bar (``tqdm``, on stderr): steps, it/s, ETA and the latest logged
    values.  Without a terminal tqdm still redraws in place; ``TQDM_DISABLE=1`` turns it off."""

    def __init__(self, total: int, start: int = 0) -> None:
        from tqdm import tqdm

        self.bar = tqdm(total=total, initial=start, file=sys.stderr, unit="it", dynamic_ncols=True,
                        mininterval=1.0)  # fmt: skip
        self.step = start

    def update(self, step: int, values: dict[str, float]) -> None:
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
        self.bar.update(step - self.step)
        self.step = step

    def close(self) -> None:
        self.bar.close()


def save_grid(images: Any, path: Path, nrow: int = 8) -> None:
    """Save a (N, C, H, W) batch in [-1, 1] (a NumPy array, or a CPU tensor NumPy can read) as a
    PNG grid of ``nrow`` images per row with 2-pixel black borders (scikit-image's ``montage``)."""
    from PIL import Image
    from skimage.util import montage

    x = np.clip(np.asarray(images, np.float32), -1, 1)
    x = ((x + 1) * 127.5).round().astype(np.uint8)
    grid = montage(x.transpose(0, 2, 3, 1), fill=[0] * x.shape[1], padding_width=2,
                   grid_shape=(-(-len(x) // nrow), nrow), channel_axis=-1)  # fmt: skip
    Image.fromarray(grid[..., 0] if x.shape[1] == 1 else grid).save(path)


def plot_curves(rows: list[dict[str, Any]], path: Path, quality: str | list[str]) -> None:
    """curves.png: losses, mean D(real)/D(fake), the two accuracies (the discriminator-dominance
    plot) and the quality metric(s) over steps, each beside its real-data baseline if logged."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    qualities = [quality] if isinstance(quality, str) else list(quality)
    train = [r for r in rows if "d_loss" in r]
    fig, axes = plt.subplots(1, 3 + len(qualities), figsize=(4.5 * (3 + len(qualities)), 3.6))
    steps = [r["step"] for r in train]
    for key in ("d_loss", "g_loss"):
        axes[0].plot(steps, [r[key] for r in train], label=key)
    for key in ("d_real", "d_fake"):
        axes[1].plot(steps, [r.get(key, float("nan")) for r in train], label=f"mean {key}")
    for key in ("d_real_acc", "d_fake_acc"):
        axes[2].plot(steps, [r.get(key, float("nan")) for r in train], label=key)
    axes[2].axhspan(0.4, 0.6, color="green", alpha=0.08, label="balanced band")
    axes[2].set_ylim(-0.02, 1.02)
    for name, ax in zip(qualities, axes[3:], strict=True):
        evals = [r for r in rows if name in r]
        ax.plot([r["step"] for r in evals], [r[name] for r in evals], "o-", label=name)
        if name == "fd" and evals and all(r[name] > 0 for r in evals):
            ax.set_yscale("log")
        if evals and f"{name}_baseline" in evals[0]:
            ax.axhline(evals[0][f"{name}_baseline"], color="gray", ls="--", label="real data")
    titles = ("losses", "discriminator outputs", "discriminator accuracy", *qualities)
    for ax, title in zip(axes, titles, strict=True):
        ax.set_title(title)
        ax.set_xlabel("step")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


@contextlib.contextmanager
def one_line_errors() -> Iterator[None]:
    """Turn TrainerError and advloss's validation errors into one line and exit status 2."""
    try:
        yield
    except (TrainerError, advloss.AdvlossError) as err:
        print(f"error: {err}", file=sys.stderr)
        raise SystemExit(2) from None
    finally:
        release_locks()  # the command is over: its run folder is free again


#: options a resumed run may change: lengths, logging, evaluation size and where it runs
RESUMABLE = {"steps", "eval_every", "log_every", "eval_samples", "out", "resume", "device",
             "config", "compile", "channels_last", "overwrite", "fid_weights"}  # fmt: skip


def check_same_options(path: Path, config: dict[str, Any]) -> None:
    """A resumed run must train what its checkpoint was written with: every option but those
    in :data:`RESUMABLE` must equal the stored ``config.json``'s (options it does not have,
    from an older version, are not compared).  The checkpoint carries its options too
    (compared by :func:`compare_options` when it is loaded, also without ``config.json``)."""
    if not path.is_file():
        return
    try:
        stored = json.loads(path.read_text())
    except (OSError, ValueError):
        raise TrainerError(f"--resume: {path} cannot be read (the run's options)") from None
    compare_options(stored, config, f"the run in {path.parent}")


def compare_options(stored: dict[str, Any], config: dict[str, Any], what: str) -> None:
    """A one-line error at the first option (but those in :data:`RESUMABLE`) that differs."""
    for key in sorted(set(stored) & set(config) - RESUMABLE):
        if stored[key] != config[key]:
            flag = "--" + key.replace("_", "-")
            raise TrainerError(
                f"--resume: {what} was written with {flag} {stored[key]}; this "
                f"command has {flag} {config[key]} (resume with the options it was written with, "
                f"or choose another --out)"
            )


def main(
    trainer: str,
    parser: argparse.ArgumentParser,
    presets: dict[str, dict],
    train: Callable[[Any], Any],
    argv: list[str] | None,
    *,
    config: type[TrainerConfig],
    check: Callable[[Any], None] = check_options,
) -> int:
    """A trainer's command: resolve the options into one ``config`` (its frozen config class),
    with a fresh run directory unless --out is given, check the options (``check``) and that
    --out is writable, then train; user errors become one line and exit status 2.  Everything
    before ``train`` imports no framework: ``train`` imports the trainer's."""
    with one_line_errors():
        options = resolve(parser, argv, presets)
        threads = parser.parse_args(argv).threads
        if threads is not None and threads < 1:
            raise TrainerError(f"--threads: expected an integer >= 1; received {threads}")
        if options["out"] is None:  # a fresh directory per run (an explicit --out is never reused)
            framework = options.get("framework", "torch")
            name = trainer if framework == "torch" else f"{trainer}-{framework}"
            what = f"{options['loss']}-{options['penalty']}"
            if options.get("recipe"):
                what = str(options["recipe"]).split("(")[0].strip()
            base = f"runs/{name}-{what}-seed{options['seed']}"
            out, i = base, 2
            while holds_run(Path(out)) and not options["resume"]:
                out, i = f"{base}-{i}", i + 1
            options["out"] = out
        cfg = config.from_options(options)
        check(cfg)
        if os.environ.get("RANK", "0") == "0":  # DDP: rank 0 writes the run
            check_writable(Path(cfg.out))
        apply_threads(threads, trainer)  # once the options are good, before train() imports
        train(cfg)
    return 0

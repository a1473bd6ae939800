"""The objective's mini-language: specs to objects (names, config dicts, the one-line text of
``Objective.parse``) and objects back to text (``repr(objective)``).  Private: ``Objective`` is
the public face (``advloss.objective``)."""

from __future__ import annotations

import ast
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any

from advloss import registry
from advloss._objective_plan import is_adaptive
from advloss.errors import AdvlossTypeError, AdvlossValueError
from advloss.registry import get_loss
from advloss.schedules import get_schedule


def _of(kind: str, spec: Any, expected: str) -> Any:
    """An object of ``kind`` from a name, a config dict or such an object (the registry)."""
    reg = registry._KINDS[kind]
    if isinstance(spec, (str, Mapping)) or (not isinstance(spec, type) and reg.is_object(spec)):
        return reg.build(f"get_{kind}", spec, {})
    raise AdvlossTypeError(f"Objective: {expected}; received {type(spec).__name__}.")


def loss_of(spec: Any) -> Any:
    return _of(
        "loss",
        spec,
        "loss must be a loss name, a config dict ({'name': 'ns', ...}) or a loss object with "
        "discriminator() and generator()",
    )


def penalty_of(spec: Any) -> Any:
    return _of(
        "penalty",
        spec,
        "each penalty must be a penalty name, a config dict ({'name': 'r1', 'gamma': 10}) or "
        "an object with term(discriminator, real, fake, *, step, key)",
    )


#: The objective's short term for DiffAugment: ``diffaug('color,translation,cutout')``.
DIFFAUG_TERM = "diffaug"


def augment_of(spec: Any) -> Any:
    """The augmentation: None, or an object of the registry's ``"augmentation"`` kind (by
    name, config dict or object), e.g. ``advloss.augment.DiffAugment``."""
    if spec is None:
        return None
    import advloss.augment  # noqa: F401  (registers the built-in "diffaugment")

    return _of(
        "augmentation",
        spec,
        "augment must be None, an augmentation name ('diffaugment'), a config dict "
        "({'name': 'diffaugment', 'policy': 'color,cutout'}) or an object with augment(x, *, key)",
    )


def noise_of(spec: Any) -> Any:
    """The instance noise: None, a noise controller (by name, config dict or object: the
    registry's ``"noise"`` kind, e.g. ``"adaptive"``) or a schedule of the std."""
    if spec is None or is_adaptive(spec):
        return spec
    name = spec.get("name") if isinstance(spec, Mapping) else spec
    controllers, schedules = registry._KINDS["noise"], registry._KINDS["schedule"]
    if isinstance(name, str) and (
        controllers.lookup_local(name) is not None
        or (schedules.lookup_local(name) is None and controllers.lookup(name) is not None)
    ):
        return controllers.build("Objective: instance_noise", spec, {})
    schedule = get_schedule(spec)
    # A standard deviation is >= 0.  Every built-in schedule moves between the values named in
    # its config (value, start, end, values), so checking those bounds the whole schedule.
    config = schedule.config() if callable(getattr(schedule, "config", None)) else {}
    for field in ("value", "start", "end", "values"):
        values = config.get(field)
        for v in values if isinstance(values, (list, tuple)) else [values]:
            if isinstance(v, (int, float)) and v < 0:
                raise AdvlossValueError(
                    f"Objective: instance_noise is a standard deviation and must be >= 0; the "
                    f"schedule {config} has {field}={values!r}."
                )
    return schedule


#: The most terms ``Objective.parse`` reads (a longer text is refused before parsing: deep
#: ``a + b + ...`` chains exhaust Python's parser stack).
MAX_TERMS = 256


def term_name(node: ast.expr) -> str | None:
    """The name of a term: ``ns``, a dotted ``myproj.loss``, or a quoted ``'my-loss'``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.Attribute) and isinstance(node.value, (ast.Name, ast.Attribute)):
        prefix = term_name(node.value)
        return None if prefix is None else f"{prefix}.{node.attr}"
    return None


def kind_of(name: str) -> str | None:
    """ "loss", "penalty", "label_transform", "augmentation", "recipe" or None; built-in and
    registered names are found without reading the installed plugins' entry points (which
    imports them)."""
    kinds = ("loss", "penalty", "label_transform", "augmentation", "recipe")
    for lookup in ("lookup_local", "lookup"):
        for kind in kinds:
            if getattr(registry._KINDS[kind], lookup)(name) is not None:
                return kind
    return None


def sequence(value: Any) -> list[Any]:
    """A list from None, one item (a name, a dict, an object) or a sequence of them."""
    if value is None:
        return []
    if isinstance(value, (str, Mapping)) or not isinstance(value, Sequence):
        return [value]
    return list(value)


def parse(text: str) -> tuple[Any, list[Any], list[Any], Any, Any]:
    """``Objective.parse``'s text → ``(loss config, penalty configs, label configs, noise,
    augmentation config)``."""
    where = "Objective.parse"
    if not isinstance(text, str):
        raise AdvlossTypeError(f"{where}: text must be a str; received {type(text).__name__}.")
    if text.count("+") >= MAX_TERMS:
        raise AdvlossValueError(
            f"{where}: at most {MAX_TERMS} terms are read; received a text with "
            f"{text.count('+') + 1} '+'-separated parts ({len(text)} characters)."
        )
    try:
        tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as err:
        raise AdvlossValueError(
            f"{where}: cannot parse {text!r} ({err.msg}); expected terms like "
            f'"ns(real_label=0.9) + r1(gamma=10)".'
        ) from None
    except (RecursionError, MemoryError):
        raise AdvlossValueError(
            f"{where}: the text is nested too deeply to parse ({len(text)} characters); "
            f'expected terms like "ns(real_label=0.9) + r1(gamma=10)".'
        ) from None
    terms: list[ast.expr] = []
    stack: list[ast.expr] = [tree]
    while stack:  # left to right, without recursion
        node = stack.pop()
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
            stack += [node.right, node.left]
        else:
            terms.append(node)
    from advloss.labels import available_label_transforms
    from advloss.registry import available_losses, available_penalties

    losses, penalties, labels, augments = [], [], [], []
    noise: Any = None
    for node in terms:
        name, args, kwargs = _term(where, text, node)
        if name == DIFFAUG_TERM:
            if len(args) > 1 or (args and "policy" in kwargs):
                raise AdvlossValueError(
                    f"{where}: {DIFFAUG_TERM}(...) takes one policy string and keyword "
                    f"arguments (layout=...); received {ast.unparse(node)!r}."
                )
            policy = {"policy": args[0]} if args else {}
            augments.append({"name": "diffaugment", **policy, **kwargs})
            continue
        if name == "noise":
            if (args and kwargs) or len(args) > 1:
                raise AdvlossValueError(
                    f"{where}: noise(...) takes one schedule (a string or number) or "
                    f"keyword arguments; received {ast.unparse(node)!r}."
                )
            noise = args[0] if args else kwargs
            continue
        if args:
            raise AdvlossValueError(
                f"{where}: {name}(...) takes keyword arguments only; received "
                f"{ast.unparse(node)!r}."
            )
        config = {"name": name, **kwargs}
        kind = kind_of(name)
        if kind == "loss":
            losses.append(config)
        elif kind == "penalty":
            penalties.append(config)
        elif kind == "label_transform":
            labels.append(config)
        elif kind == "augmentation":
            augments.append(config)
        elif kind == "recipe":  # expanded into its terms
            expanded = registry._KINDS["recipe"].build(where, config, {}).objective().config()
            losses.append(expanded["loss"])
            penalties += expanded["penalties"]
            labels += expanded["labels"]
            if expanded["instance_noise"] is not None:
                noise = expanded["instance_noise"]
            if expanded["augment"] is not None:
                augments.append(expanded["augment"])
        else:
            raise AdvlossValueError(
                f"{where}: unknown term {name!r} in {text!r}; known losses "
                f"{available_losses()}, penalties {available_penalties()}, label transforms "
                f"{available_label_transforms()}, recipes {registry.available('recipe')}, and "
                f"noise(...), {DIFFAUG_TERM}(...)."
            )
    if len(losses) != 1:
        raise AdvlossValueError(
            f"{where}: expected exactly one loss among the terms of {text!r} (a recipe brings "
            f"its own); received {[c['name'] for c in losses] or 'none'}."
        )
    if len(augments) > 1:
        raise AdvlossValueError(
            f"{where}: at most one augmentation term; received {len(augments)} in {text!r} "
            f"(one policy string combines transforms: {DIFFAUG_TERM}('color,translation'))."
        )
    return losses[0], penalties, labels, noise, (augments[0] if augments else None)


def text_of(objective: Any) -> str:
    """The one-line text of ``objective`` that ``parse`` reads back (its ``repr``)."""

    def term(config: Mapping[str, Any], name: str | None = None) -> str:
        config = dict(config)
        name = name or config.pop("name")
        args = ", ".join(f"{k}={v!r}" for k, v in config.items())
        if not all(part.isidentifier() for part in str(name).split(".")):
            name = repr(name)  # e.g. 'my-loss': parse reads quoted names
        return f"{name}({args})" if args else str(name)

    def conf(obj: Any) -> dict[str, Any]:
        c = obj.config() if callable(getattr(obj, "config", None)) else None
        return c if isinstance(c, dict) else {"name": getattr(obj, "name", repr(obj))}

    loss = conf(objective.loss)
    default: dict[str, Any] = {}
    with contextlib.suppress(Exception):  # a plugin without defaults: print everything
        default = get_loss(loss["name"]).config()  # type: ignore[attr-defined]
    loss = {k: v for k, v in loss.items() if k == "name" or default.get(k) != v}
    parts = [term(loss)]
    for p in objective.penalties:
        c = conf(p)
        c = {"name": c.pop("name"), **dict(sorted(c.items()))}
        parts.append(term(c))
    parts += [term(t.config()) for t in objective.labels]
    if objective.instance_noise is not None:
        parts.append(term(conf(objective.instance_noise), "noise"))
    if objective.augment is not None:
        augment = conf(objective.augment)
        if augment.get("name") == "diffaugment" and set(augment) == {"name", "policy", "layout"}:
            layout = "" if augment["layout"] == "NCHW" else f", layout={augment['layout']!r}"
            parts.append(f"{DIFFAUG_TERM}({augment['policy']!r}{layout})")
        else:
            parts.append(term(augment))
    return " + ".join(parts)


def _term(where: str, text: str, node: ast.expr) -> tuple[str, list[Any], dict[str, Any]]:
    """``name`` or ``name(literal args, key=literal)`` → (name, args, kwargs)."""

    def literal(value: ast.expr) -> Any:
        try:
            return ast.literal_eval(value)
        except ValueError:
            raise AdvlossValueError(
                f"{where}: arguments must be literals (numbers, strings, lists); received "
                f"{ast.unparse(value)!r} in {text!r}."
            ) from None

    name = term_name(node)
    if name is not None:
        return name, [], {}
    name = term_name(node.func) if isinstance(node, ast.Call) else None
    if isinstance(node, ast.Call) and name is not None:
        kwargs: dict[str, Any] = {}
        for kw in node.keywords:
            if kw.arg is None:
                raise AdvlossValueError(f"{where}: **kwargs is not allowed in {text!r}.")
            if kw.arg in kwargs:
                raise AdvlossValueError(
                    f"{where}: {name}(...) gives {kw.arg}= twice in {text!r}; expected each "
                    f"keyword once."
                )
            kwargs[kw.arg] = literal(kw.value)
        return name, [literal(a) for a in node.args], kwargs
    raise AdvlossValueError(
        f"{where}: cannot read the term {ast.unparse(node)!r} in {text!r}; expected "
        f"name or name(key=value, ...), with names that are not identifiers quoted "
        f"('my-loss'(margin=1.0)) or dotted (myproj.loss)."
    )


def config_of(objective: Any) -> dict[str, Any]:
    """``Objective.config``: the objective as plain data."""

    def conf(obj: Any, what: str) -> Any:
        if not callable(getattr(obj, "config", None)):
            raise AdvlossTypeError(
                f"Objective.config: the {what} {obj!r} has no config() method, so the "
                f"objective cannot be written as data; give it one (returning "
                f"{{'name': ..., **hyperparameters}})."
            )
        return obj.config()

    noise, augment = objective.instance_noise, objective.augment
    return {
        "loss": conf(objective.loss, "loss"),
        "penalties": [conf(p, "penalty") for p in objective.penalties],
        "labels": [t.config() for t in objective.labels],
        "instance_noise": None if noise is None else conf(noise, "instance noise"),
        "augment": None if augment is None else conf(augment, "augmentation"),
    }


def arguments_of(config: Any) -> dict[str, Any]:
    """``Objective.from_config``: the constructor's arguments from a config dict."""
    if not isinstance(config, Mapping):
        raise AdvlossTypeError(
            f"Objective.from_config: config must be a dict; received {type(config).__name__}."
        )
    known = {"loss", "penalties", "labels", "instance_noise", "augment"}
    unknown = sorted(set(config) - known)
    if unknown:
        raise AdvlossValueError(
            f"Objective.from_config: unknown keys {unknown}; expected some of {sorted(known)}."
        )
    return {
        "loss": config.get("loss", "ns"),
        "penalties": config.get("penalties") or (),
        "labels": config.get("labels") or (),
        "instance_noise": config.get("instance_noise"),
        "augment": config.get("augment"),
    }

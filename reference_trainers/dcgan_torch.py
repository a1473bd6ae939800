"""The PyTorch side of the DCGAN trainer (:mod:`reference_trainers.dcgan` is its command line,
which imports this module once the options are parsed and checked): the networks built from
:mod:`~reference_trainers.dcgan_spec`'s layer lists and the PyTorch training loop (the
evaluation, shared with the JAX and TensorFlow trainers, is :mod:`reference_trainers.dcgan_eval`)."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
import torch
from torch import nn

import advloss
from reference_trainers import common
from reference_trainers.augmentation import convert_draws
from reference_trainers.config import DCGANConfig
from reference_trainers.data import Batches, load, training_subset
from reference_trainers.dcgan_eval import make_evaluate, metrics_for
from reference_trainers.dcgan_spec import (
    KERNEL,
    Layer,
    discriminator_layers,
    generator_layers,
    numpy_dcgan,
)
from reference_trainers.session import Session

# ---------------------------------------------------------------------------------- networks


def torch_net(layers: list[Layer]) -> nn.Sequential:
    """The PyTorch modules of a :mod:`~reference_trainers.dcgan_spec` layer list."""
    modules: list[nn.Module] = []
    for layer in layers:
        kind, cin, cout, k, s, p = (
            layer.kind,
            layer.cin,
            layer.cout,
            KERNEL,
            layer.stride,
            layer.padding,
        )
        if kind == "conv":
            modules.append(nn.Conv2d(cin, cout, k, s, p, bias=layer.bias))
        elif kind == "convT":
            modules.append(nn.ConvTranspose2d(cin, cout, k, s, p, bias=layer.bias))
        elif kind == "batch":
            modules.append(nn.BatchNorm2d(cout))
        elif kind == "layer":
            modules.append(nn.GroupNorm(1, cout))
        elif kind == "instance":
            modules.append(nn.InstanceNorm2d(cout, affine=True))
        else:
            modules.append({"relu": nn.ReLU(True), "lrelu": nn.LeakyReLU(0.2, True),
                            "tanh": nn.Tanh()}[kind])  # fmt: skip
    return nn.Sequential(*modules)


class Generator(nn.Module):
    """z (N, z_dim) → image (N, C, S, S) in [-1, 1]: a 4×4 projection, then ×2 upsampling
    transposed convolutions with batch norm and ReLU, halving the channels
    (:func:`~reference_trainers.dcgan_spec.generator_layers`)."""

    def __init__(self, z_dim: int, width: int, image_size: int, channels: int) -> None:
        super().__init__()
        self.layers = generator_layers(z_dim, width, image_size, channels)
        self.net = torch_net(self.layers)
        self.z_dim = z_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z[:, :, None, None])


class Discriminator(nn.Module):
    """image → one logit per sample (N, 1): stride-2 convolutions with LeakyReLU(0.2), doubling
    the channels down to 4×4, then a 4×4 convolution
    (:func:`~reference_trainers.dcgan_spec.discriminator_layers`)."""

    def __init__(self, width: int, image_size: int, channels: int, norm: str) -> None:
        super().__init__()
        self.layers = discriminator_layers(width, image_size, channels, norm)
        self.net = torch_net(self.layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten(1)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The intermediate features feature matching compares: every layer but the last
        convolution, ``(N, C, 4, 4)`` (the paper's "activations on an intermediate layer")."""
        return self.net[:-1](x)


@torch.no_grad()
def load_numpy_weights(net: nn.Sequential, weights: list[Any]) -> None:
    """Copy :func:`~reference_trainers.dcgan_spec.numpy_weights` (PyTorch layouts) into
    ``net``."""
    for module, w in zip(net, weights, strict=True):
        for name, value in (w or {}).items():
            getattr(module, name).copy_(torch.from_numpy(value))


@torch.no_grad()
def load_spectral_state(net: nn.Sequential, states: list[Any]) -> None:
    """Set each spectrally normalized convolution's ``(u, v)`` buffers (advloss.nn.torch)."""
    for module, state in zip(net, states, strict=True):
        if state is not None:
            sn: Any = module.parametrizations["weight"][0]  # type: ignore[index]
            sn.u.copy_(torch.from_numpy(state[0]))
            sn.v.copy_(torch.from_numpy(state[1]))


def init_weights(m: nn.Module) -> None:
    """DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) norm scales."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm, nn.InstanceNorm2d)) and m.weight is not None:
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


# ---------------------------------------------------------------------------------- training


def train_torch(cfg: DCGANConfig) -> dict[str, Any]:
    """The PyTorch DCGAN."""
    if cfg.numpy_rng and int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise common.TrainerError(
            "--numpy-rng with torchrun / DDP: every process would draw the same numbers; "
            "it is for single-process comparisons"
        )
    s = Session(cfg, "dcgan", quality="fd")  # validates the options and builds the objective
    norm = s.d_norm(cfg.d_norm)
    data, channels = load(cfg.data, cfg.image_size)
    data = training_subset(data, cfg.train_size, cfg.seed)  # --train-size: limited data
    batches = Batches(torch.from_numpy(data), cfg.batch_size, cfg.seed)
    common.seed_everything(cfg.seed)
    G = Generator(cfg.z_dim, cfg.width, cfg.image_size, channels)
    D = Discriminator(cfg.width, cfg.image_size, channels, norm)
    streams, after_sn = None, None
    if cfg.numpy_rng:  # the same weights and random numbers as the JAX / TF trainers
        from reference_trainers.arrays import NumpyStreams

        streams = NumpyStreams(cfg.seed)
        net = numpy_dcgan(cfg, channels, norm, streams.gens["init"])
        G.to(s.dtype)  # load the float64 draws into networks of the training precision
        D.to(s.dtype)
        load_numpy_weights(G.net, net.g_weights)
        load_numpy_weights(D.net, net.d_weights)
        if net.spectral is not None:
            after_sn = lambda: load_spectral_state(D.net, net.spectral)  # noqa: E731
    else:
        G.apply(init_weights)
        D.apply(init_weights)
    G_run, D_run = s.setup(G, D, batches, after_spectral_norm=after_sn, streams=streams)
    if cfg.gradient_norm:  # GN-GAN: D(x) / (||grad_x D(x)|| + |D(x)|) in both losses
        D_run = advloss.gradient_normalize(D_run)
    # G for the objective's own calls in the G step (zcr's G(z + σε), path_length's G(z)), in
    # training mode as G_run; with path_length not the torch.compile'd G, which cannot be
    # differentiated twice (the term's gradient reaches G's weights through its input gradient)
    G_objective = getattr(G_run, "_orig_mod", G_run) if s.needs_latents else G_run
    metrics = metrics_for(cfg, "torch")
    if streams is not None:
        from reference_trainers.arrays import eval_latents, fixed_latents

        as_t = lambda x: torch.from_numpy(x).to(s.device, s.dtype)  # noqa: E731
        fixed_z = as_t(fixed_latents(cfg.z_dim))
        make_eval_z = lambda: as_t(eval_latents(cfg.eval_samples, cfg.z_dim))  # noqa: E731
    else:
        fixed_z = torch.randn(64, cfg.z_dim, generator=torch.Generator().manual_seed(12345))
        fixed_z = fixed_z.to(s.device, s.dtype)

        def make_eval_z() -> torch.Tensor:
            eval_gen = torch.Generator().manual_seed(777)  # never touches the training RNGs
            z = torch.randn(cfg.eval_samples, cfg.z_dim, generator=eval_gen)
            return z.to(s.device, s.dtype)

    def sample(z: torch.Tensor) -> np.ndarray:
        return G(z).float().cpu().numpy()

    evaluate = make_evaluate(s.run.dir, sample, fixed_z, make_eval_z, metrics)

    def latents() -> torch.Tensor:
        if streams is not None:
            return torch.from_numpy(streams.latents(s.local_batch, cfg.z_dim, np.float64)).to(
                s.device, s.dtype
            )
        return torch.randn(
            s.local_batch, cfg.z_dim, generator=s.gens["z"], device=s.device, dtype=s.dtype
        )

    def draws(real: Any, fake_shape: tuple[int, ...], side: str) -> Any:
        """advloss's random numbers for one call, from the NumPy stream (None: from s.key)."""
        if streams is None:
            return None
        real_shape = None if real is None else tuple(real.shape)
        specs = s.objective.draw_specs(real_shape, fake_shape, side=side)
        return {k: torch.from_numpy(v).to(s.device, s.dtype)
                for k, v in streams.draws(specs, np.float64, channels_last=False).items()}  # fmt: skip

    def aug_draws(side: str, with_real: bool = True) -> Any:
        """The augmentation's draws from the NumPy stream (None: from s.key)."""
        to_t = lambda a: torch.from_numpy(a).to(s.device)  # noqa: E731
        return s.augment_draws(streams, image_shape, side, with_real,
                               lambda d: convert_draws(d, to_t, np.float64))  # fmt: skip

    image_shape = (s.local_batch, channels, cfg.image_size, cfg.image_size)
    s.begin(evaluate)
    while s.step < s.steps:
        # ---- the training step: this is the part to copy into your own loop ----
        d_steps, g_steps = s.plan()
        for _ in range(d_steps):
            real = s.local(batches.next())
            z = latents()
            with s.autocast():
                # --augment: D sees augmented reals and fakes (APA: pseudo-reals)
                real_in, fake_in = s.augment_d(real, G_run(z).detach(), key=s.key,
                                               draws=aug_draws("discriminator"))  # fmt: skip
                out = s.objective.discriminator(
                    D_run, real_in, fake_in, step=s.step, key=s.key,
                    draws=draws(real, image_shape, "discriminator"), noise_std=s.noise_std,
                    generator=G_run, latent=z,  # used by zcr only
                    states=s.term_states,  # lecam's moving averages ({} without such a term)
                    replicas=s.replicas,  # torchrun: the states averaged over the ranks
                )  # fmt: skip
            s.update_d(out)
            s.advance_states(out)
        for _ in range(g_steps):
            z = latents()
            g_real = real if s.needs_real or s.needs_features else None
            with s.autocast():
                # --augment: G is trained through the augmentation of its fakes
                fake_in, g_real_in = s.augment_g(G_run(z), g_real, key=s.key,
                                                 draws=aug_draws("generator", g_real is not None))  # fmt: skip
                features = None
                if s.needs_features:  # feature_matching: D's features on reals (targets), fakes
                    features = (D.features(g_real_in).detach(), D.features(fake_in))
                loss_real = g_real_in if s.needs_real else None
                g_out = s.objective.generator(
                    D_run, fake_in, real=loss_real, step=s.step, key=s.key,
                    draws=draws(loss_real, image_shape, "generator"), noise_std=s.noise_std,
                    generator=G_objective, latent=z,  # used by zcr and path_length
                    states=s.term_states,  # path_length's moving average, lecam's
                    features=features, replicas=s.replicas,
                )  # fmt: skip
            s.update_g(g_out.total)
            s.advance_states(g_out)
        # ---- logging, evaluation, checkpoints ----
        if s.end_iteration(out, g_out):
            s.evaluate(evaluate)
    return s.finish()

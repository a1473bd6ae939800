"""Numerically check every mapping in docs/conventions.md (and the numbers quoted in docs/spec.md).

Each peer library's formula is re-written here in NumPy float64 from its source (see the
snapshots listed in docs/conventions.md); no peer code is imported or copied.  Each check
compares the peer's value with the advloss call that the conventions page says reproduces it,
on random logits of several shapes (a logit per sample, (N, 1), PatchGAN maps (N, 1, H, W)).

Run from the repository root:  python docs/check_conventions.py   (NumPy and advloss only.)
"""

from __future__ import annotations

import numpy as np

import advloss

get = advloss.get_loss
RTOL, ATOL = 1e-12, 1e-12
_checked = 0


def check(what: str, peer: float, ours: float, rtol: float = RTOL, atol: float = ATOL) -> None:
    global _checked
    peer, ours = float(peer), float(ours)
    if not abs(peer - ours) <= atol + rtol * abs(peer):
        raise AssertionError(f"{what}: peer {peer!r} != advloss {ours!r}")
    _checked += 1


# ---------------------------------------------------------------------------------------------
# Building blocks, from their definitions.


def log_sigmoid(x):
    return np.minimum(x, 0.0) - np.log1p(np.exp(-np.abs(x)))


def sigmoid(x):
    return np.exp(log_sigmoid(x))


def bce(x, y):
    """Binary cross-entropy of logits x with targets y (torch/TF sigmoid cross-entropy)."""
    return -(y * log_sigmoid(x) + (1.0 - y) * log_sigmoid(-x))


def softplus(x):
    return np.logaddexp(0.0, x)


def relu(x):
    return np.maximum(x, 0.0)


# ---------------------------------------------------------------------------------------------
# TF-GAN (tensorflow_gan/python/losses/losses_impl.py @ bc369b7e).  tf.compat.v1.losses with the
# default reduction SUM_BY_NONZERO_WEIGHTS: sum(w * loss) / count_nonzero(w broadcast to loss).


def tfgan_reduce(per_element, weights=1.0):
    w = np.broadcast_to(np.asarray(weights, dtype=np.float64), per_element.shape)
    nonzero = np.count_nonzero(w)
    return 0.0 if nonzero == 0 else np.sum(per_element * w) / nonzero


def tfgan_sigmoid_cross_entropy(label, logits, weights=1.0, label_smoothing=0.0):
    target = label * (1.0 - label_smoothing) + 0.5 * label_smoothing
    return tfgan_reduce(bce(logits, target), weights)


def tfgan_minimax_discriminator_loss(
    r, f, label_smoothing=0.25, real_weights=1.0, generated_weights=1.0
):
    return tfgan_sigmoid_cross_entropy(
        1.0, r, real_weights, label_smoothing
    ) + tfgan_sigmoid_cross_entropy(0.0, f, generated_weights)


def tfgan_minimax_generator_loss(f, label_smoothing=0.0, weights=1.0):
    return -tfgan_minimax_discriminator_loss(np.ones_like(f), f, label_smoothing, weights, weights)


tfgan_modified_discriminator_loss = tfgan_minimax_discriminator_loss


def tfgan_modified_generator_loss(f, label_smoothing=0.0, weights=1.0):
    return tfgan_sigmoid_cross_entropy(1.0, f, weights, label_smoothing)


def tfgan_least_squares_generator_loss(f, real_label=1.0, weights=1.0):
    return tfgan_reduce((f - real_label) ** 2 / 2.0, weights)


def tfgan_least_squares_discriminator_loss(
    r, f, real_label=1.0, fake_label=0.0, real_weights=1.0, generated_weights=1.0
):
    return tfgan_reduce((r - real_label) ** 2 / 2.0, real_weights) + tfgan_reduce(
        (f - fake_label) ** 2 / 2.0, generated_weights
    )


def tfgan_wasserstein_generator_loss(f, weights=1.0):
    return -tfgan_reduce(f, weights)


def tfgan_wasserstein_discriminator_loss(r, f, real_weights=1.0, generated_weights=1.0):
    return tfgan_reduce(f, generated_weights) - tfgan_reduce(r, real_weights)


def tfgan_wasserstein_hinge_discriminator_loss(
    r, f, real_hinge=1.0, generated_hinge=1.0, real_weights=1.0, generated_weights=1.0
):
    return tfgan_reduce(relu(real_hinge - r), real_weights) + tfgan_reduce(
        relu(generated_hinge + f), generated_weights
    )


def tfgan_relativistic_discriminator_loss(r, f):
    return np.mean(bce(r - np.mean(f), 1.0)) + np.mean(bce(f - np.mean(r), 0.0))


def tfgan_relativistic_generator_loss(r, f):
    return np.mean(bce(r - np.mean(f), 0.0)) + np.mean(bce(f - np.mean(r), 1.0))


# ---------------------------------------------------------------------------------------------
# torchgan (torchgan/losses/functional.py @ fe86d7cf); reduction "mean" | "sum" | other = none.


def tg_reduce(x, reduction):
    return np.mean(x) if reduction == "mean" else np.sum(x) if reduction == "sum" else x


def tg_minimax_generator_loss(f, nonsaturating=True, reduction="mean"):
    return (
        tg_reduce(bce(f, 1.0), reduction) if nonsaturating else -tg_reduce(bce(f, 0.0), reduction)
    )


def tg_minimax_discriminator_loss(r, f, label_smoothing=0.0, reduction="mean"):
    return tg_reduce(bce(r, 1.0 - label_smoothing), reduction) + tg_reduce(bce(f, 0.0), reduction)


def tg_least_squares_generator_loss(f, c=1.0, reduction="mean"):
    return 0.5 * tg_reduce((f - c) ** 2, reduction)


def tg_least_squares_discriminator_loss(r, f, a=0.0, b=1.0, reduction="mean"):
    return 0.5 * (tg_reduce((r - b) ** 2, reduction) + tg_reduce((f - a) ** 2, reduction))


def tg_wasserstein_generator_loss(f, reduction="mean"):
    return tg_reduce(-f, reduction)


def tg_wasserstein_discriminator_loss(r, f, reduction="mean"):
    return tg_reduce(f - r, reduction)


# ---------------------------------------------------------------------------------------------
# Mimicry (torch_mimicry/modules/losses.py @ a7fda06c).  Note the argument orders.


def mm_minimax_loss_gen(f, real_label_val=1.0):
    return np.mean(bce(f, real_label_val))


def mm_minimax_loss_dis(output_fake, output_real, real_label_val=1.0, fake_label_val=0.0):
    return np.mean(bce(output_real, real_label_val)) + np.mean(bce(output_fake, fake_label_val))


def mm_ns_loss_gen(f):
    return -np.mean(np.log(sigmoid(f) + 1e-8))


def mm_wasserstein_loss_dis(output_real, output_fake):
    return -np.mean(output_real) + np.mean(output_fake)


def mm_hinge_loss_dis(output_fake, output_real):
    return np.mean(relu(1.0 - output_real)) + np.mean(relu(1.0 + output_fake))


def mm_generator_mean_neg(f):  # wasserstein_loss_gen and hinge_loss_gen
    return -np.mean(f)


# ---------------------------------------------------------------------------------------------
# StudioGAN (src/utils/losses.py @ 947b35e9).


def sg_d_vanilla(r, f):
    return np.mean(softplus(-r)) + np.mean(softplus(f))


def sg_d_logistic(r, f):
    return np.mean(softplus(-r) + softplus(f))


def sg_g_vanilla(f):
    return np.mean(softplus(-f))


def sg_d_ls(r, f):
    return np.mean(0.5 * (r - 1.0) ** 2 + 0.5 * f**2)


def sg_g_ls(f):
    return np.mean(0.5 * (f - 1.0) ** 2)


def sg_d_hinge(r, f):
    return np.mean(relu(1.0 - r)) + np.mean(relu(1.0 + f))


def sg_d_wasserstein(r, f):
    return np.mean(f - r)


# ---------------------------------------------------------------------------------------------
# compare_gan (compare_gan/gans/loss_lib.py @ 19922d30): returns (d_loss, d_real, d_fake, g_loss).


def cg_non_saturating(r, f):
    return np.mean(bce(r, 1.0)) + np.mean(bce(f, 0.0)), np.mean(bce(f, 1.0))


def cg_least_squares(d_real, d_fake):  # called with sigmoid(logits)
    return 0.5 * (np.mean((d_real - 1.0) ** 2) + np.mean(d_fake**2)), 0.5 * np.mean(
        (d_fake - 1.0) ** 2
    )


def cg_hinge(r, f):
    return np.mean(relu(1.0 - r)) + np.mean(relu(1.0 + f)), -np.mean(f)


def cg_wasserstein(r, f):
    return -np.mean(r) + np.mean(f), -np.mean(f)


# ---------------------------------------------------------------------------------------------
# StyleGAN2-ADA (training/loss.py @ d72cc7d0): Gmain, Dmain (two backward passes, values added).


def s2a_g(f):
    return np.mean(softplus(-f))


def s2a_d(r, f):
    return np.mean(softplus(f)) + np.mean(softplus(-r))


# ---------------------------------------------------------------------------------------------
# GAN_stability (gan_training/train.py @ c1f64c9e): compute_loss(d_out, target).


def gs_compute_loss(d_out, target, gan_type):
    if gan_type == "standard":
        return np.mean(bce(d_out, float(target)))
    return (2 * target - 1) * np.mean(d_out)  # "wgan"


def gs_d(r, f, gan_type):
    return gs_compute_loss(r, 1, gan_type) + gs_compute_loss(f, 0, gan_type)


def gs_g(f, gan_type):
    return gs_compute_loss(f, 1, gan_type)


# ---------------------------------------------------------------------------------------------
# pix2pix GANLoss (models/networks.py) and pix2pix_model.py (D = 0.5 (fake + real), G = GAN term).


def p2p_ganloss(pred, target_is_real, mode, real_label=1.0, fake_label=0.0):
    target = real_label if target_is_real else fake_label
    if mode == "lsgan":
        return np.mean((pred - target) ** 2)  # nn.MSELoss, mean, no 1/2
    if mode == "vanilla":
        return np.mean(bce(pred, target))  # nn.BCEWithLogitsLoss
    return -np.mean(pred) if target_is_real else np.mean(pred)  # "wgangp"


def p2p_d(r, f, mode, **labels):
    return (p2p_ganloss(f, False, mode, **labels) + p2p_ganloss(r, True, mode, **labels)) * 0.5


def p2p_g(f, mode, **labels):
    return p2p_ganloss(f, True, mode, **labels)


# ---------------------------------------------------------------------------------------------
# Relativistic pairing GANs: one term per (real, fake) pair, equal shapes.
# AlexiaJM/RelativisticGAN (code/GAN_losses_iter.py @ 0b9e1f97), loss_D == 5 (RSGAN):
# D: BCE_stable(y_pred - y_pred_fake, y = 1); G: BCE_stable(y_pred_fake - y_pred, y = 1).


def rsgan_d(r, f):
    return np.mean(bce(r - f, 1.0))


def rsgan_g(r, f):
    return np.mean(bce(f - r, 1.0))


# AlexiaJM/MaximumMarginGANs (Code/GAN.py @ e7428759), loss_D == 31 / 32 / 33 (RpSGAN, RpLSGAN,
# RpHingeGAN, "without the MVUE"): D's loss carries a factor 2, G's does not.


def mmg_rp_d(r, f, loss_d):
    if loss_d == 31:
        return 2 * np.mean(bce(r - f, 1.0))
    if loss_d == 32:
        return 2 * np.mean((r - f - 1.0) ** 2)
    return 2 * np.mean(relu(1.0 - (r - f)))  # 33


def mmg_rp_g(r, f, loss_d):
    if loss_d == 31:
        return np.mean(bce(f - r, 1.0))
    if loss_d == 32:
        return np.mean((f - r - 1.0) ** 2)
    return np.mean(relu(1.0 - (f - r)))  # 33


# brownvc/R3GAN (R3GAN/Trainer.py @ 19a7ddf4): RelativisticLogits = Real - Fake (D) or
# Fake - Real (G); AdversarialLoss = softplus(-RelativisticLogits), averaged (with the R1/R2
# terms, checked in tests/test_objective.py).


def r3gan_d(r, f):
    return np.mean(softplus(-(r - f)))


def r3gan_g(r, f):
    return np.mean(softplus(-(f - r)))


# The paper's general form (Jolicoeur-Martineau 2018): L_D = E[f1(r - f)] + E[f2(f - r)], and
# L_G with the roles of r and f swapped.  RpSGAN: f1(y) = -log σ(y), f2(y) = -log(1 - σ(y));
# RpLSGAN: f1(y) = (y - 1)^2, f2(y) = (y + 1)^2; RpHinge: f1(y) = relu(1 - y), f2(y) = relu(1 + y).
GENERAL_FORM = {
    "rpgan": (lambda y: bce(y, 1.0), lambda y: bce(y, 0.0)),
    "rp_lsgan": (lambda y: (y - 1.0) ** 2, lambda y: (y + 1.0) ** 2),
    "rp_hinge": (lambda y: relu(1.0 - y), lambda y: relu(1.0 + y)),
}


def general_form_d(name, r, f):
    f1, f2 = GENERAL_FORM[name]
    return np.mean(f1(r - f)) + np.mean(f2(f - r))


def general_form_g(name, r, f):
    f1, f2 = GENERAL_FORM[name]
    return np.mean(f1(f - r)) + np.mean(f2(r - f))


# ---------------------------------------------------------------------------------------------


def main() -> None:
    rng = np.random.default_rng(0)
    same_shape = [((16,), (16,)), ((16, 1), (16, 1)), ((4, 1, 6, 6), (4, 1, 6, 6))]
    any_shape = [*same_shape, ((16, 1), (24, 1)), ((4, 1, 6, 6), (3, 1, 6, 6))]

    # Constants quoted in the docs.
    check("BCE(1, logit 1) = softplus(-1)", 0.31326168751822286, softplus(-1.0))
    x = rng.normal(scale=5.0, size=1000)
    for y in (1.0, 0.9, 0.875, 0.5, 0.1):
        check(
            f"smoothed BCE identity y={y}",
            np.max(np.abs(bce(x, y) - (softplus(-x) + (1 - y) * x))) + 1.0,
            1.0,
        )

    for rs, fs in any_shape:
        r, f = rng.normal(scale=3.0, size=rs), rng.normal(scale=3.0, size=fs)
        w_f = np.where(
            rng.random(fs[:1] + (1,) * (len(fs) - 1)) < 0.3,
            0.0,
            rng.random(fs[:1] + (1,) * (len(fs) - 1)) * 2,
        )
        w_r = np.where(
            rng.random(rs[:1] + (1,) * (len(rs) - 1)) < 0.3,
            0.0,
            rng.random(rs[:1] + (1,) * (len(rs) - 1)) * 2,
        )

        def nonzero_scaled(w, logits):
            """TF-GAN's SUM_BY_NONZERO_WEIGHTS as advloss mean weights: w * n / count_nonzero."""
            wb = np.broadcast_to(w, logits.shape)
            return w * (wb.size / np.count_nonzero(wb))

        # ---- TF-GAN
        for s in (0.0, 0.1, 0.25):
            check(
                "TF-GAN minimax D",
                tfgan_minimax_discriminator_loss(r, f, s),
                get("minimax", real_label=1 - s / 2).discriminator(r, f),
            )
            check(
                "TF-GAN modified D",
                tfgan_modified_discriminator_loss(r, f, s),
                get("ns", real_label=1 - s / 2).discriminator(r, f),
            )
            check(
                "TF-GAN minimax G",
                tfgan_minimax_generator_loss(f, s),
                get("minimax").generator(f) - (softplus(-1.0) + s / 2),
            )
            ns = get("ns")
            check(
                "TF-GAN modified G",
                tfgan_modified_generator_loss(f, s),
                ns.generator(f) + (s / 2) * np.mean(f),
            )
        check(
            "TF-GAN minimax D default",
            tfgan_minimax_discriminator_loss(r, f),
            get("minimax", real_label=0.875).discriminator(r, f),
        )
        check(
            "TF-GAN minimax G const",
            tfgan_minimax_generator_loss(f),
            get("minimax").generator(f) - 0.31326168751822286,
        )
        for rl, fl in ((1.0, 0.0), (0.9, -1.0)):
            check(
                "TF-GAN LS G",
                tfgan_least_squares_generator_loss(f, rl),
                get("lsgan", c=rl).generator(f),
            )
            check(
                "TF-GAN LS D",
                tfgan_least_squares_discriminator_loss(r, f, rl, fl),
                get("lsgan", a=fl, b=rl).discriminator(r, f),
            )
        check("TF-GAN W G", tfgan_wasserstein_generator_loss(f), get("wgan").generator(f))
        check(
            "TF-GAN W D",
            tfgan_wasserstein_discriminator_loss(r, f),
            get("wgan").discriminator(r, f),
        )
        for rh, gh in ((1.0, 1.0), (0.5, 2.0)):
            check(
                "TF-GAN W-hinge D",
                tfgan_wasserstein_hinge_discriminator_loss(r, f, rh, gh),
                get("hinge", real_margin=rh, fake_margin=gh).discriminator(r, f),
            )
        check("TF-GAN W-hinge G", tfgan_wasserstein_generator_loss(f), get("hinge").generator(f))
        check(
            "TF-GAN RaGAN D",
            tfgan_relativistic_discriminator_loss(r, f),
            get("ragan").discriminator(r, f),
        )
        check(
            "TF-GAN RaGAN G",
            tfgan_relativistic_generator_loss(r, f),
            get("ragan").generator(f, real_logits=r),
        )
        # Weights: SUM_BY_NONZERO_WEIGHTS reproduced by rescaled weights (or sum / count_nonzero).
        wr_s, wf_s = nonzero_scaled(w_r, r), nonzero_scaled(w_f, f)
        check(
            "TF-GAN weighted W G",
            tfgan_wasserstein_generator_loss(f, w_f),
            get("wgan").generator(f, weights=wf_s),
        )
        check(
            "TF-GAN weighted W G (sum)",
            tfgan_wasserstein_generator_loss(f, w_f),
            get("wgan").generator(f, weights=w_f, reduction="sum")
            / np.count_nonzero(np.broadcast_to(w_f, f.shape)),
        )
        check(
            "TF-GAN weighted minimax D",
            tfgan_minimax_discriminator_loss(r, f, 0.25, w_r, w_f),
            get("minimax", real_label=0.875).discriminator(
                r, f, real_weights=wr_s, fake_weights=wf_s
            ),
        )
        check(
            "TF-GAN weighted LS D",
            tfgan_least_squares_discriminator_loss(r, f, 1.0, 0.0, w_r, w_f),
            get("lsgan").discriminator(r, f, real_weights=wr_s, fake_weights=wf_s),
        )
        wb = np.broadcast_to(w_f, f.shape)
        check(
            "TF-GAN weighted minimax G (constant scaled by sum(w)/nnz(w))",
            tfgan_minimax_generator_loss(f, 0.0, w_f),
            get("minimax").generator(f, weights=wf_s)
            - softplus(-1.0) * wb.sum() / np.count_nonzero(wb),
        )
        # advloss "mean" with weights = sum(w * loss) / numel (torch BCE weight=, Keras sample_weight).
        check(
            "advloss weighted mean",
            np.sum(softplus(-f) * w_f) / f.size,
            get("ns").generator(f, weights=w_f),
        )

        # ---- Mimicry (logits (N, 1) in Mimicry; the formulas are shape-agnostic here)
        check("Mimicry minimax_loss_gen = NS", mm_minimax_loss_gen(f), get("ns").generator(f))
        for y in (1.0, 0.9):
            check(
                "Mimicry minimax_loss_dis",
                mm_minimax_loss_dis(f, r, y),
                get("ns", real_label=y).discriminator(r, f),
            )
        f_mild = np.clip(f, -10, None)
        sig = sigmoid(f_mild)
        check(
            "Mimicry ns_loss_gen ~ NS",
            mm_ns_loss_gen(f_mild),
            get("ns").generator(f_mild),
            rtol=0,
            atol=np.mean(1e-8 / sig),
        )
        check(
            "Mimicry wasserstein D", mm_wasserstein_loss_dis(r, f), get("wgan").discriminator(r, f)
        )
        check("Mimicry wasserstein G", mm_generator_mean_neg(f), get("wgan").generator(f))
        check("Mimicry hinge D", mm_hinge_loss_dis(f, r), get("hinge").discriminator(r, f))
        check("Mimicry hinge G", mm_generator_mean_neg(f), get("hinge").generator(f))

        # ---- StudioGAN, compare_gan, StyleGAN2-ADA, GAN_stability: per-term means
        check("StudioGAN d_vanilla", sg_d_vanilla(r, f), get("ns").discriminator(r, f))
        check("StudioGAN g_vanilla", sg_g_vanilla(f), get("ns").generator(f))
        check("StudioGAN d_hinge", sg_d_hinge(r, f), get("hinge").discriminator(r, f))
        check("StudioGAN g_hinge", mm_generator_mean_neg(f), get("hinge").generator(f))
        check("StudioGAN g_ls", sg_g_ls(f), get("lsgan").generator(f))
        check("StyleGAN2-ADA D", s2a_d(r, f), get("ns").discriminator(r, f))
        check("StyleGAN2-ADA G", s2a_g(f), get("ns").generator(f))
        check("GAN_stability standard D", gs_d(r, f, "standard"), get("ns").discriminator(r, f))
        check("GAN_stability standard G", gs_g(f, "standard"), get("ns").generator(f))
        check("GAN_stability wgan D", gs_d(r, f, "wgan"), get("wgan").discriminator(-r, -f))
        check("GAN_stability wgan G", gs_g(f, "wgan"), get("wgan").generator(-f))
        check("compare_gan NS D", cg_non_saturating(r, f)[0], get("ns").discriminator(r, f))
        check("compare_gan NS G", cg_non_saturating(r, f)[1], get("ns").generator(f))
        check("compare_gan hinge D", cg_hinge(r, f)[0], get("hinge").discriminator(r, f))
        check("compare_gan hinge G", cg_hinge(r, f)[1], get("hinge").generator(f))
        check("compare_gan W D", cg_wasserstein(r, f)[0], get("wgan").discriminator(r, f))
        check("compare_gan W G", cg_wasserstein(r, f)[1], get("wgan").generator(f))
        check(
            "compare_gan LS D",
            cg_least_squares(sigmoid(r), sigmoid(f))[0],
            get("lsgan").discriminator(sigmoid(r), sigmoid(f)),
        )
        check(
            "compare_gan LS G",
            cg_least_squares(sigmoid(r), sigmoid(f))[1],
            get("lsgan").generator(sigmoid(f)),
        )

        # ---- pix2pix GANLoss
        check("pix2pix lsgan D", p2p_d(r, f, "lsgan"), get("lsgan").discriminator(r, f))
        check("pix2pix lsgan G", p2p_g(f, "lsgan"), 2 * get("lsgan").generator(f))
        check(
            "pix2pix lsgan D labels",
            p2p_d(r, f, "lsgan", real_label=0.9, fake_label=0.1),
            get("lsgan", a=0.1, b=0.9).discriminator(r, f),
        )
        check(
            "pix2pix lsgan G labels",
            p2p_g(f, "lsgan", real_label=0.9),
            2 * get("lsgan", c=0.9).generator(f),
        )
        check("pix2pix vanilla D", p2p_d(r, f, "vanilla"), 0.5 * get("ns").discriminator(r, f))
        check(
            "pix2pix vanilla D label",
            p2p_d(r, f, "vanilla", real_label=0.9),
            0.5 * get("ns", real_label=0.9).discriminator(r, f),
        )
        check("pix2pix vanilla G", p2p_g(f, "vanilla"), get("ns").generator(f))
        check("pix2pix wgangp D", p2p_d(r, f, "wgangp"), 0.5 * get("wgan").discriminator(r, f))
        check("pix2pix wgangp G", p2p_g(f, "wgangp"), get("wgan").generator(f))

    # Peers that add real and fake terms elementwise, or build targets from the other tensor,
    # need equal shapes; advloss's "none" needs them too.
    for rs, fs in same_shape:
        r, f = rng.normal(scale=3.0, size=rs), rng.normal(scale=3.0, size=fs)
        for red in ("mean", "sum"):
            for s in (0.0, 0.2):
                check(
                    "torchgan minimax D",
                    tg_minimax_discriminator_loss(r, f, s, red),
                    get("minimax", real_label=1 - s).discriminator(r, f, reduction=red),
                )
            check(
                "torchgan NS G",
                tg_minimax_generator_loss(f, True, red),
                get("ns").generator(f, reduction=red),
            )
            check(
                "torchgan saturating G",
                tg_minimax_generator_loss(f, False, red),
                get("minimax").generator(f, reduction=red),
            )
            check(
                "torchgan LS G",
                tg_least_squares_generator_loss(f, 0.5, red),
                get("lsgan", c=0.5).generator(f, reduction=red),
            )
            check(
                "torchgan LS D",
                tg_least_squares_discriminator_loss(r, f, -1.0, 1.0, red),
                get("lsgan", a=-1.0, b=1.0).discriminator(r, f, reduction=red),
            )
            check(
                "torchgan W G",
                tg_wasserstein_generator_loss(f, red),
                get("wgan").generator(f, reduction=red),
            )
            check(
                "torchgan W D",
                tg_wasserstein_discriminator_loss(r, f, red),
                get("wgan").discriminator(r, f, reduction=red),
            )
        for peer, ours in (
            (
                tg_minimax_discriminator_loss(r, f, 0.2, "none"),
                get("ns", real_label=0.8).discriminator(r, f, reduction="none"),
            ),
            (
                tg_least_squares_discriminator_loss(r, f, reduction="none"),
                get("lsgan").discriminator(r, f, reduction="none"),
            ),
            (
                tg_wasserstein_discriminator_loss(r, f, "none"),
                get("wgan").discriminator(r, f, reduction="none"),
            ),
            (
                tg_minimax_generator_loss(f, False, "none"),
                get("minimax").generator(f, reduction="none"),
            ),
        ):
            check("torchgan reduction none", np.max(np.abs(peer - ours)) + 1.0, 1.0)
        check("StudioGAN d_logistic", sg_d_logistic(r, f), get("ns").discriminator(r, f))
        check("StudioGAN d_ls", sg_d_ls(r, f), get("lsgan").discriminator(r, f))
        check("StudioGAN d_wasserstein", sg_d_wasserstein(r, f), get("wgan").discriminator(r, f))

        # ---- relativistic pairing (equal shapes by definition)
        rp = {name: get(name) for name in ("rpgan", "rp_lsgan", "rp_hinge")}
        check("RelativisticGAN RSGAN D", rsgan_d(r, f), rp["rpgan"].discriminator(r, f))
        check("RelativisticGAN RSGAN G", rsgan_g(r, f), rp["rpgan"].generator(f, real_logits=r))
        check("R3GAN D", r3gan_d(r, f), rp["rpgan"].discriminator(r, f))
        check("R3GAN G", r3gan_g(r, f), rp["rpgan"].generator(f, real_logits=r))
        for loss_d, name in ((31, "rpgan"), (32, "rp_lsgan"), (33, "rp_hinge")):
            check(
                f"MaximumMarginGANs loss_D={loss_d} D",
                mmg_rp_d(r, f, loss_d),
                2 * rp[name].discriminator(r, f),
            )
            check(
                f"MaximumMarginGANs loss_D={loss_d} G",
                mmg_rp_g(r, f, loss_d),
                rp[name].generator(f, real_logits=r),
            )
        for name, loss in rp.items():
            check(
                f"{name} general form D", general_form_d(name, r, f), 2 * loss.discriminator(r, f)
            )
            check(
                f"{name} general form G",
                general_form_g(name, r, f),
                2 * loss.generator(f, real_logits=r),
            )

    # Mimicry's ns_loss_gen is capped at -log(1e-8) ~ 18.42 per element; advloss is not.
    f = np.array([-30.0])
    check("Mimicry ns_loss_gen cap", mm_ns_loss_gen(f), -np.log(1e-8), rtol=1e-6)
    check("advloss NS at -30", 30.0, get("ns").generator(f), rtol=1e-12)

    print(f"all {_checked} checks passed")


if __name__ == "__main__":
    main()

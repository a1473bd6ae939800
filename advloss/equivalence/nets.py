"""Moved to `advloss.testing.nets` (the harness's small discriminators); this name keeps
working."""

from __future__ import annotations

from advloss.testing.nets import INPUT_SHAPES, LAYERS, forward, numpy_forward, numpy_net, weights

__all__ = ["INPUT_SHAPES", "LAYERS", "forward", "numpy_forward", "numpy_net", "weights"]

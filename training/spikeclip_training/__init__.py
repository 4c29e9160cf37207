"""Python half of the SpikeCLIP explorer: reference model, checkpoint export, golden fixtures.

Contract: ``shared/SPEC.md`` (model semantics) and ``docs/CHECKPOINT.md`` (file formats).
Dimension letters as in SPEC.md: T steps, B batch, C channels, H/W spatial, N tokens,
L text length, D width, h heads, E text embedding width, P prompts, K classes, M templates.
"""

from .config import SpikeCLIPConfig
from .lif import LIF
from .model import (
    ScratchCLIPVision,
    SpikeCLIP,
    SpikingTextEncoder,
    SpikingVisionEncoder,
    lif_layers,
    zero_shot,
)

__all__ = [
    "LIF",
    "ScratchCLIPVision",
    "SpikeCLIP",
    "SpikeCLIPConfig",
    "SpikingTextEncoder",
    "SpikingVisionEncoder",
    "lif_layers",
    "zero_shot",
]
__version__ = "0.1.0"

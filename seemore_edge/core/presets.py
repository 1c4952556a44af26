"""The authors' SeemoRe configurations and the figures each must reproduce.

The parameter counts and GMACs come from ../shared/reference/ARCHITECTURE.md; tests hold the builders to them, so a
silent architecture change cannot pass as the paper's model.
"""
from __future__ import annotations

from dataclasses import dataclass

from .errors import UserError

SCALES = (2, 3, 4)


@dataclass(frozen=True)
class Preset:
    name: str
    groups: int  # residual groups N
    channels: int  # C
    expert_ranks: tuple[int, ...]
    recursion: int  # context recursion t of the stride-4 branch
    striped_kernel: int  # k of the SEE's 1xk / kx1 depthwise pair
    channel_shuffle: bool
    params: dict[int, int]  # expected parameter count per scale
    gmacs_720p: dict[int, float]  # expected GMACs of the inference path at a 1280x720 output

    @property
    def min_lr_size(self) -> int:
        """The context branch floors H and W by 4, t times: smaller inputs leave nothing to convolve."""
        return 4 ** self.recursion


PRESETS: dict[str, Preset] = {
    "T": Preset("T", 6, 36, (2, 4, 8), 2, 11, True,
                {2: 220_104, 3: 224_979, 4: 231_804}, {2: 44.6, 3: 20.1, 4: 11.8}),
    "B": Preset("B", 8, 48, (2, 4, 8), 2, 11, True,
                {2: 490_364, 3: 496_859, 4: 505_952}, {2: 100.6, 3: 45.3, 4: 26.1}),
    "L": Preset("L", 16, 48, (2, 4, 8), 1, 11, False,
                {2: 953_308, 3: 959_803, 4: 968_896}, {2: 195.7, 3: 87.9, 4: 49.9}),
    # Not the paper's: the same blocks at toy width, so tests and smoke runs exercise every code path in seconds.
    "tiny": Preset("tiny", 1, 8, (2, 4, 8), 2, 11, True, {}, {}),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name if name == "tiny" else name.upper()]
    except KeyError:
        raise UserError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}") from None


def check_scale(scale: int) -> int:
    if scale not in SCALES:
        raise UserError(f"unknown scale {scale!r}; choose one of {', '.join(map(str, SCALES))}")
    return int(scale)

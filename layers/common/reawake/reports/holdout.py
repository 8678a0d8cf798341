"""Holdouts: who is kept out of an approach, and whether the approach made a difference (pure).

The segment run assigns the arms (``reawake.segments.approaches.in_holdout``): a hash of (approach
key, lead id), so the same lead is always in the same arm for the same sequence.

The comparison is the difference of two proportions (mailed − held out) with Newcombe's hybrid
score interval (Newcombe 1998, method 10), built from Wilson score intervals of each arm: it stays
inside [−1, 1] and behaves with small counts and rates near 0, where the textbook Wald interval
does not (a 2 % return rate in a 10 % holdout is exactly that case).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.959963984540054  # two-sided 95 %
Z_POWER80 = 0.8416212335729143  # one-sided 80 % power
MIN_ARM = 30  # fewer leads in an arm: no verdict at all
MIN_EFFECT = 0.03  # the smallest lift worth knowing about (3 points), for "enough leads?"


def wilson(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a proportion (no continuity correction)."""
    if n <= 0:
        return 0.0, 1.0
    p = successes / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z / denominator * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return max(0.0, centre - half), min(1.0, centre + half)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95) -> tuple[float, float, float]:
    """(p1 − p2, lower, upper): Newcombe's hybrid score interval for a difference of proportions."""
    p1, p2 = x1 / n1, x2 / n2
    l1, u1 = wilson(x1, n1, z)
    l2, u2 = wilson(x2, n2, z)
    d = p1 - p2
    return d, d - math.sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + math.sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def sample_size(baseline: float, effect: float, ratio: float = 1.0, z_alpha: float = Z95,
                z_beta: float = Z_POWER80) -> tuple[int, int]:
    """(treated, held out) needed to detect ``baseline`` → ``baseline + effect`` with 95 %
    confidence and 80 % power, ``ratio`` treated per held-out lead (Fleiss, no continuity
    correction). A 10 % holdout is ratio 9."""
    p_c, p_t = baseline, min(0.999, max(0.001, baseline + effect))
    p_bar = (p_t * ratio + p_c) / (1 + ratio)
    q_bar = 1 - p_bar
    root = (z_alpha * math.sqrt((1 + 1 / ratio) * p_bar * q_bar)
            + z_beta * math.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t) / ratio))
    held = math.ceil(root * root / (effect * effect))
    return math.ceil(held * ratio), held


@dataclass(frozen=True)
class Comparison:
    treated: int
    treated_hits: int
    held: int
    held_hits: int
    difference: float | None = None
    lower: float | None = None
    upper: float | None = None
    needed: tuple[int, int] | None = None  # (treated, held out) for a MIN_EFFECT lift

    @property
    def treated_rate(self) -> float | None:
        return self.treated_hits / self.treated if self.treated else None

    @property
    def held_rate(self) -> float | None:
        return self.held_hits / self.held if self.held else None

    @property
    def verdict(self) -> str:
        return verdict(self)


def compare(treated: int, treated_hits: int, held: int, held_hits: int) -> Comparison:
    if treated <= 0 or held <= 0:
        return Comparison(treated, treated_hits, held, held_hits)
    d, lo, hi = newcombe(treated_hits, treated, held_hits, held)
    baseline = held_hits / held
    needed = sample_size(baseline if 0 < baseline < 1 else 0.05, MIN_EFFECT, max(treated / held, 0.01))
    return Comparison(treated, treated_hits, held, held_hits, d, lo, hi, needed)


def points(x: float) -> str:
    """A proportion difference in percentage points, signed: +4.2 / −1.0."""
    value = round(x * 100, 1)
    return f"+{value:.1f}" if value >= 0 else f"−{abs(value):.1f}"


def verdict(c: Comparison) -> str:
    """A plain Japanese verdict for a marketer."""
    if c.difference is None or c.lower is None or c.upper is None or min(c.treated, c.held) < MIN_ARM:
        return "まだ判定できません (n 不足)"
    ci = f"{points(c.difference)}pt, 95%CI {points(c.lower)}〜{points(c.upper)}"
    if c.lower > 0:
        return f"効果あり ({ci})"
    if c.upper < 0:
        return f"逆効果の可能性 ({ci})"
    if c.needed is not None and (c.treated < c.needed[0] or c.held < c.needed[1]):
        return f"まだ判定できません (n 不足: {ci})"
    return f"差は確認できません ({ci})"

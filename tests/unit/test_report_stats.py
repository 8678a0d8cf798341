"""Holdout assignment and the statistics behind the report's verdicts."""

from __future__ import annotations

import pytest

from reawake.reports.holdout import compare, newcombe, sample_size, verdict, wilson
from reawake.segments.approaches import in_holdout
from reawake.segments.rules.config import load_segments


@pytest.mark.parametrize(
    ("x", "n", "lower", "upper"),
    [  # Newcombe (1998), Statistics in Medicine 17:857-872, Table II, method 3 (Wilson score)
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0000, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ],
)
def test_wilson_matches_newcombes_published_intervals(x: int, n: int, lower: float, upper: float) -> None:
    lo, hi = wilson(x, n)
    assert (round(lo, 4), round(hi, 4)) == (lower, upper)


@pytest.mark.parametrize(
    ("a", "b", "lower", "upper"),
    [  # Newcombe (1998), Statistics in Medicine 17:873-890, Table II, method 10 (hybrid score)
        ((56, 70), (48, 80), 0.0524, 0.3339),
        ((9, 10), (3, 10), 0.1705, 0.8090),
        ((6, 7), (2, 7), 0.0582, 0.8062),
        ((5, 56), (0, 29), -0.0381, 0.1926),
    ],
)
def test_newcombe_difference_matches_published_intervals(a: tuple[int, int], b: tuple[int, int], lower: float,
                                                         upper: float) -> None:
    _, lo, hi = newcombe(a[0], a[1], b[0], b[1])
    assert (round(lo, 4), round(hi, 4)) == (lower, upper)


def test_sample_size_for_equal_arms_is_the_textbook_figure() -> None:
    # 60 % vs 80 %, two-sided 5 %, power 80 %, no continuity correction: 81.2 -> 82 per group.
    assert sample_size(0.6, 0.2) == (82, 82)
    treated, held = sample_size(0.05, 0.03, ratio=9)  # a 10 % holdout needs more leads in all
    assert treated == 9 * held
    assert held + treated > 2 * sample_size(0.05, 0.03)[0]


def test_verdicts_in_plain_japanese() -> None:
    assert verdict(compare(10_000, 900, 1_000, 50)).startswith("効果あり (+4.0pt, 95%CI +2.4〜")
    assert verdict(compare(20, 5, 3, 0)) == "まだ判定できません (n 不足)"
    assert verdict(compare(500, 40, 60, 4)).startswith("まだ判定できません (n 不足: +1.3pt")
    assert verdict(compare(200_000, 10_000, 100_000, 5_000)).startswith("差は確認できません (+0.0pt")
    assert verdict(compare(10_000, 300, 1_000, 60)).startswith("逆効果の可能性 (−3.0pt")


def test_holdout_assignment_is_stable_and_close_to_the_share() -> None:
    leads = [f"lead{n:05d}" for n in range(20_000)]
    first = [in_holdout(lead, "webinar-invite", 0.1) for lead in leads]
    assert first == [in_holdout(lead, "webinar-invite", 0.1) for lead in leads]
    assert abs(sum(first) / len(leads) - 0.1) < 0.01
    other = [in_holdout(lead, "win-back", 0.1) for lead in leads]
    assert other != first  # another sequence draws another group
    assert not any(in_holdout(lead, "webinar-invite", 0.0) for lead in leads)


def test_holdout_is_written_as_a_percentage_on_the_approach() -> None:
    text = """
segments:
  - id: a
    name: A
    approach: {type: sequence, sequence: s1, holdout: 10%}
    rule: {attr: registered_at, older_than: 90d}
  - id: b
    name: B
    approach: {type: watch, holdout: 0.2}
    rule: {attr: registered_at, older_than: 90d}
"""
    a, b = load_segments(text)
    assert a.approach.holdout == pytest.approx(0.1) and b.approach.holdout == pytest.approx(0.2)
    with pytest.raises(Exception, match="holdout"):
        load_segments(text.replace("10%", "60%"))

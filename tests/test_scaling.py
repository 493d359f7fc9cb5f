"The intervals are checked where the truth is known, before they are trusted on data."

from fints_scaling.scaling import saturating_coverage


def test_saturating_alpha_interval_covers_the_truth():
    # 5 budgets x 3 model seeds, 1% noise per run, 30 simulated studies: the 95% interval for alpha must hold the truth in >= 85%
    cov = saturating_coverage(n_reps=30, n_boot=100)
    assert cov["coverage"] >= 0.85, cov

"The four budgets' exact parameter counts, pinned, for both channel modes (dataset_c: 28 features, 60-day context)."

from pathlib import Path
import pytest
from fints_scaling.model import BUDGETS, TOLERANCE, build_model, count_parameters, model_config, n_parameters, parse_budget, resolve_budget

ROOT = Path(__file__).resolve().parents[1]  # the repository: configs/model holds the checked-in budgets
PINNED = {
    "mixing": {"2M": 1_919_233, "20M": 19_620_481, "200M": 199_736_641, "2B": 1_995_954_593},
    "independent": {"2M": 1_909_073, "20M": 19_503_841, "200M": 199_503_361, "2B": 1_995_340_289},
}


@pytest.mark.parametrize("mode", PINNED)
@pytest.mark.parametrize("budget", BUDGETS)
def test_budget_counts_are_pinned_and_within_tolerance(budget, mode):
    cfg = resolve_budget(budget, n_features=28, context_length=60, channel_mode=mode)
    n = count_parameters(build_model(cfg, "meta"))
    assert n == n_parameters(cfg) == PINNED[mode][budget]
    assert abs(n / parse_budget(budget) - 1) <= TOLERANCE
    # every budget reaches the 50-100 aspect band except independent 2M, whose 196*d head leaves no in-band width: 176 x 5 layers
    assert 50 <= cfg.d_model / cfg.n_layers <= 100 or (mode, budget, cfg.d_model, cfg.n_layers) == ("independent", "2M", 176, 5)


@pytest.mark.parametrize("budget", BUDGETS)
def test_checked_in_configs_match(budget):
    assert count_parameters(build_model(model_config(budget, 28, root=ROOT), "meta")) == PINNED["mixing"][budget]


@pytest.mark.parametrize(
    "kw, message",
    [
        (dict(budget="2M", n_features=28, context_length=8), "context_length 8 is shorter than patch_len 16"),
        (dict(budget="500", n_features=28), "unknown budget '500'"),
        (dict(budget="2K", n_features=28), "no architecture lies within 5% of budget '2K'"),
        (dict(budget="2M", n_features=28, channel_mode="both"), "unknown channel mode 'both'"),
    ],
)
def test_bad_input(kw, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        resolve_budget(**kw)

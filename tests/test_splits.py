"""Property tests of ChunkSplitter, and of several series split on one calendar: no train window shares a day with a val or
test window, for any sizes, ratios, horizons, seeds, starts and gaps."""

import warnings
import numpy as np
import pandas as pd
from hypothesis import given, settings, strategies as st, assume
from fints_scaling.splits import ChunkSplitter, SmallSplitWarning, calendar_split, get_hpo_subset

splitters = st.builds(
    lambda T, ctx, h, vr, tr, seed, mode, purge, emb: dict(
        total_days=T, context_length=ctx, horizon=h, val_ratio=vr, test_ratio=tr, seed=seed, mode=mode, purge=purge, embargo=emb
    ),
    T=st.integers(200, 6000),
    ctx=st.integers(1, 90),
    h=st.sampled_from([1, 2, 3, 5, 7]),
    vr=st.floats(0.05, 0.3),
    tr=st.floats(0.05, 0.3),
    seed=st.integers(0, 2**32 - 1),
    mode=st.sampled_from(["scattered", "contiguous"]),
    purge=st.none() | st.integers(0, 10),
    emb=st.integers(0, 10),
)


def _split(kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SmallSplitWarning)
        try:
            return ChunkSplitter(**kw).split()
        except ValueError as e:
            assert "too few days" in str(e)
            assume(False)


@settings(max_examples=300, deadline=None)
@given(splitters)
def test_no_train_window_shares_a_day_with_val_or_test(kw):
    s = _split(kw)
    train = s.window_days(s.train_indices)
    val, test = s.window_days(s.val_indices), s.window_days(s.test_indices)
    assert not np.intersect1d(train, val).size and not np.intersect1d(train, test).size and not np.intersect1d(val, test).size
    span = kw["context_length"] + kw["horizon"]
    assert s.train_indices.max() + span <= kw["total_days"] and s.val_indices.max() + span <= kw["total_days"]


@settings(max_examples=100, deadline=None)
@given(splitters, st.floats(0.05, 1.0))
def test_same_seed_same_split_and_hpo_subset_inside_train(kw, fraction):
    a, b = _split(kw), _split(kw)
    for name in ("train_indices", "val_indices", "test_indices"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    sub = get_hpo_subset(a, fraction)
    assert np.isin(sub, a.train_indices).all() and len(np.unique(sub)) == len(sub)
    np.testing.assert_array_equal(sub, get_hpo_subset(b, fraction))


@st.composite
def series_calendars(draw):
    "2 to 4 series on one business-day calendar, each with its own start, end and missing days (holidays, halts)."
    base = pd.bdate_range("1995-01-02", periods=draw(st.integers(800, 3000)))
    out = {}
    for k in range(draw(st.integers(2, 4))):
        lo = draw(st.integers(0, len(base) // 3))
        hi = draw(st.integers(lo + len(base) // 2, len(base)))
        keep = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random(hi - lo) > draw(st.floats(0, 0.2))
        out[f"S{k}"] = base[lo:hi][keep]
    return out


@settings(max_examples=150, deadline=None)
@given(series_calendars(), splitters)
def test_pooled_series_split_on_one_calendar_never_leak(dates, kw):
    "No train window of any series reaches, with its purge and embargo, a calendar day that is val or test for some series' window."
    kw = {k: v for k, v in kw.items() if k != "total_days"}
    try:
        cal = calendar_split(dates, **kw)
    except ValueError as e:
        assert "too few days" in str(e) or "cannot hold one window" in str(e)
        assume(False)
    s0 = next(iter(cal.series.values()))
    window, purge, embargo = s0.settings["context_length"] + s0.settings["horizon"], s0.settings["purge"], s0.settings["embargo"]
    spans = lambda d, idx: [(at[i], at[i + window - 1]) for at in [cal.calendar.get_indexer(d)] for i in idx]
    held_out = set()
    for name, d in dates.items():
        for role, idx in ((1, cal.series[name].val_indices), (2, cal.series[name].test_indices)):
            for a, b in spans(d, idx):
                assert (cal.roles[a : b + 1] == role).all()  # a val or test window lies inside its block, calendar days and all
                held_out.update(range(a, b + 1))
    for name, d in dates.items():
        for a, b in spans(d, cal.series[name].train_indices):
            assert not held_out.intersection(range(max(0, a - embargo), b + purge + 1)), (name, a, b)

"Property tests of ChunkSplitter: no train window shares a day with a val or test window, for any sizes, ratios, horizons and seeds."

import warnings
import numpy as np
from hypothesis import given, settings, strategies as st, assume
from fints_scaling.splits import ChunkSplitter, SmallSplitWarning, get_hpo_subset

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

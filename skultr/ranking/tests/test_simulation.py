"""Click models: the click rates they promise, determinism and input checks."""

import numpy as np
import pytest

from skultr.datasets._ltr import resolve_click_model
from skultr.ranking import CascadeModel, PositionBasedModel, TrustBiasModel
from skultr.ranking._simulation import graded_click_probability

N = 200_000  # sessions per rate check: standard error of a rate <= 0.0012


def test_click_probability_table_of_the_paper():
    np.testing.assert_allclose(
        graded_click_probability([0, 1, 2, 3, 4]), [0.1, 0.16, 0.28, 0.52, 1.0], atol=1e-12
    )


def test_position_based_examination_curve_and_eta():
    curve = [0.68, 0.61, 0.48, 0.34, 0.28, 0.20, 0.11, 0.10, 0.08, 0.06]
    np.testing.assert_allclose(PositionBasedModel().examination(12), curve + [0.06, 0.06])
    np.testing.assert_allclose(PositionBasedModel(eta=2).examination(10), np.square(curve))
    np.testing.assert_allclose(PositionBasedModel(eta=0).propensity(5), np.ones(5))
    custom = PositionBasedModel(examination_curve=[0.9, 0.3])
    assert custom.examination_curve == (0.9, 0.3)
    np.testing.assert_allclose(custom.propensity(3), [1.0, 1 / 3, 1 / 3])


@pytest.mark.parametrize("grade", [0, 4])
def test_position_based_click_rates(grade):
    model = PositionBasedModel()
    clicks = model.sample(np.full((N, 10), float(grade)), np.random.RandomState(0))
    expected = model.examination(10) * graded_click_probability(grade)
    np.testing.assert_allclose(clicks.mean(axis=0), expected, atol=0.005)


def test_empty_slots_never_clicked_and_sampling_is_deterministic():
    relevance = np.array([[4.0, np.nan, 4.0], [np.nan, np.nan, 4.0]])
    a = PositionBasedModel(eta=0).sample(np.tile(relevance, (500, 1)), np.random.RandomState(1))
    b = PositionBasedModel(eta=0).sample(np.tile(relevance, (500, 1)), np.random.RandomState(1))
    np.testing.assert_array_equal(a, b)
    assert a.dtype == np.int8
    assert a[::2, 1].sum() == 0 and a[1::2, :2].sum() == 0
    assert a[::2, 0].all()  # examined with probability 1 and attraction 1


def test_cascade_stops_after_the_first_click():
    model = CascadeModel()
    relevance = np.tile([2.0, 3.0, 1.0, 4.0], (N, 1))
    clicks = model.sample(relevance, np.random.RandomState(0))
    assert clicks.sum(axis=1).max() == 1
    a = graded_click_probability(relevance[0])
    reach = np.r_[1.0, np.cumprod(1 - a)[:-1]]
    np.testing.assert_allclose(clicks.mean(axis=0), reach * a, atol=0.005)
    assert model.propensity(4) is None


def test_cascade_with_continuation_allows_several_clicks():
    model = CascadeModel(stop_after_click=0.0)
    clicks = model.sample(np.full((1000, 5), 4.0), np.random.RandomState(0))
    assert clicks.all()


def test_trust_bias_click_rates():
    model = TrustBiasModel()
    plus, minus = model.noise(3)
    np.testing.assert_allclose(plus, [0.98, 0.97, 0.96])
    np.testing.assert_allclose(minus, [0.65, 0.325, 0.65 / 3])
    for grade, attraction in [(0.0, minus), (4.0, plus)]:
        clicks = model.sample(np.full((N, 3), grade), np.random.RandomState(0))
        np.testing.assert_allclose(
            clicks.mean(axis=0), model.examination(3) * attraction, atol=0.005
        )


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: PositionBasedModel(eta=-1), "eta must be"),
        (lambda: PositionBasedModel(epsilon_minus=1.5), "epsilon_minus must be a probability"),
        (lambda: PositionBasedModel(examination_curve=[0.5, 2.0]), r"got 2.0 at index 1"),
        (lambda: CascadeModel(stop_after_click=-0.1), "stop_after_click"),
        (lambda: TrustBiasModel(epsilon_plus=[]), "non-empty"),
        (lambda: resolve_click_model("ubm"), "click_model must be one of"),
        (lambda: resolve_click_model(3), "sample"),
    ],
)
def test_bad_parameters(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_grades_outside_the_scale_are_rejected():
    with pytest.raises(ValueError, match=r"got 5.0 in session 1 at position 2"):
        PositionBasedModel().sample([[0, 1], [2, 5]], np.random.RandomState(0))
    with pytest.raises(ValueError, match="2-D"):
        PositionBasedModel().sample([1, 2], np.random.RandomState(0))


def test_models_are_immutable_value_objects():
    assert PositionBasedModel(eta=2) == PositionBasedModel(eta=2.0)
    assert repr(PositionBasedModel(eta=2)).startswith("PositionBasedModel(eta=2")
    with pytest.raises(AttributeError):
        PositionBasedModel().eta = 3

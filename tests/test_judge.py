import dataclasses

import pytest
import torch

from ganbook.data import load_images
from ganbook.judge import DigitsJudge, JudgeConfig, _fit, train_digits_judge


@pytest.fixture(scope="module")
def judge() -> DigitsJudge:
    return train_digits_judge()  # the default judge every chapter uses


def test_default_judge_reaches_97_percent_on_held_out_digits(judge):
    x_test, y_test = load_images("digits", split="test")
    assert judge.accuracy(x_test, y_test) >= 0.97


def test_shapes_and_outputs(judge):
    x, _ = load_images("digits", split="test")
    x = x[:5]
    assert judge.features(x).shape == (5, 64)
    assert judge.logits(x).shape == (5, 10)
    torch.testing.assert_close(judge.logits(x), judge.head(judge.features(x)))
    predicted = judge.predict(x)
    assert predicted.dtype == torch.int64 and predicted.shape == (5,)
    assert torch.equal(predicted, judge(x).argmax(dim=1))


def test_trained_judge_is_frozen_in_eval_mode_but_passes_input_gradients(judge):
    assert not judge.training
    assert not any(p.requires_grad for p in judge.parameters())
    x = torch.zeros(2, 1, 8, 8, requires_grad=True)
    judge(x).sum().backward()
    assert x.grad is not None and x.grad.shape == x.shape


def test_training_is_deterministic_and_leaves_global_rng_alone():
    config, cpu = JudgeConfig(epochs=1), torch.device("cpu")
    state = torch.get_rng_state()
    a, b = _fit(config, cpu), _fit(config, cpu)  # the uncached training, twice
    assert torch.equal(torch.get_rng_state(), state)
    for p, q in zip(a.state_dict().values(), b.state_dict().values(), strict=True):
        assert torch.equal(p, q)
    c = _fit(dataclasses.replace(config, seed=1), cpu)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_repeated_calls_return_independent_copies_of_the_same_weights(judge):
    other = train_digits_judge()
    assert other is not judge and torch.equal(other.head.weight, judge.head.weight)
    other.head.weight.add_(1.0)
    assert not torch.equal(other.head.weight, judge.head.weight)
    assert torch.equal(train_digits_judge().head.weight, judge.head.weight)


def test_feature_dim_is_configurable():
    judge = DigitsJudge(feature_dim=16)
    assert judge.features(torch.zeros(3, 1, 8, 8)).shape == (3, 16)


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        JudgeConfig().epochs = 3  # type: ignore[misc]


def test_wrong_image_shape_is_clear():
    with pytest.raises(ValueError, match=r"\(N, 1, 8, 8\)"):
        DigitsJudge()(torch.zeros(2, 1, 28, 28))

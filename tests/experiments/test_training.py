"""Vectorized training equals the sequential loop; models are initialized by rules.init_model."""

from __future__ import annotations

import pytest
import torch

import initlab
from initlab.experiments import (
    Init,
    Stack,
    TrainSpec,
    initialized,
    load_dataset,
    mlp,
    run_experiment,
    small_cnn,
    train,
    train_sequential,
)

pytestmark = pytest.mark.xdist_group("experiments")

HE = Init("he_normal")


def _runs(seeds, sizes=(2, 8, 1)):
    return [initialized(mlp(sizes), HE, s, "t") for s in seeds]


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw", "rmsprop"])
def test_vectorized_equals_sequential(optimizer):
    data = load_dataset("moons", n_train=64, n_test=32, binary=True)
    seeds = [0, 1, 2, 3]
    spec = TrainSpec(
        optimizer=optimizer,
        lr=0.01,
        steps=30,
        batch_size=16,
        log_every=10,
        weight_decay=0.01,
        grad_norm_steps=3,
    )
    a = train(Stack(_runs(seeds)), data, spec, seeds)
    b = train_sequential(_runs(seeds), data, spec, seeds)
    for key in a.metrics:
        torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(a.grad_norms, b.grad_norms, rtol=1e-4, atol=1e-6)


def test_vectorized_cnn_equals_sequential():
    data = load_dataset("digits", n_train=64, n_test=32).as_images()
    seeds = [0, 1]
    models = [initialized(small_cnn(8, [4, 6], 10), HE, s, "c") for s in seeds]
    spec = TrainSpec(optimizer="adam", lr=0.01, steps=5, batch_size=16, log_every=5)
    a = train(Stack(models), data, spec, seeds)
    b = train_sequential(models, data, spec, seeds)
    for key in a.metrics:
        torch.testing.assert_close(a.metrics[key], b.metrics[key], rtol=1e-4, atol=1e-5)


def test_initialized_goes_through_rules_init_model_with_one_seeded_generator():
    """Same values as the plan's scheme drawn in module order from seeded_generator(*key)."""
    model = initialized(mlp((4, 8, 3)), HE, 7, "t", bias=0.25)
    g = initlab.rng.seeded_generator(7, "t")
    he = initlab.initializers.get("he_normal")
    first = he.fill_(torch.empty(8, 4), g)
    second = he.fill_(torch.empty(3, 8), g)
    assert torch.equal(model[0].weight.detach(), first)
    assert torch.equal(model[2].weight.detach(), second)
    assert torch.equal(model[0].bias.detach(), torch.full((8,), 0.25))
    other = initialized(mlp((4, 8, 3)), HE, 8, "t")
    assert not torch.equal(other[0].weight, model[0].weight)  # negative control: seed matters


def test_a_runs_init_does_not_depend_on_its_stack():
    """Run (setting, seed) gets the same weights alone or among other runs."""
    alone = Stack(_runs([2]))
    together = Stack(_runs([0, 1, 2]))
    for name, tensor in alone.params.items():
        torch.testing.assert_close(tensor[0], together.params[name][2], rtol=0, atol=0)


def test_experiments_leave_the_global_rng_alone():
    state = torch.get_rng_state()
    run_experiment("shared")
    run_experiment("depth", width=32, depth=5, settings=["normal"])
    assert torch.equal(state, torch.get_rng_state())


def test_train_spec_round_trips_and_checks_its_numbers():
    spec = TrainSpec(optimizer="adam", lr=0.1, steps=3)
    assert TrainSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(ValueError, match=r"lr=0\.0 must be > 0"):
        TrainSpec(lr=0.0)
    with pytest.raises(ValueError, match=r"optimizer='adm' .*did you mean 'adam'"):
        TrainSpec(optimizer="adm")


def test_a_linear_subclass_keeps_its_own_forward_in_a_stack():
    """μP's Readout scales its input: the stack must run it, not a plain matmul."""
    from torch import nn

    from initlab.mup import Readout

    def model(seed: int) -> nn.Sequential:
        net = initialized(mlp((3, 4, 2)), HE, seed, "t")
        net[-1] = Readout.from_linear(net[-1], multiplier=0.25)
        return net

    x = torch.randn(5, 3, generator=torch.Generator().manual_seed(0))
    models = [model(s) for s in (0, 1)]
    stacked = Stack(models).forward_shared(x)
    for i, m in enumerate(models):
        torch.testing.assert_close(stacked[i], m(x))
    plain = initialized(mlp((3, 4, 2)), HE, 0, "t")  # negative control: the multiplier matters
    assert not torch.allclose(stacked[0], plain(x))

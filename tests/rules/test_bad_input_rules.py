"""Bad input to the rules engine (``init_model``, rules, ``param_groups``, activation
detection). Each test states the behaviour: a clear error naming the argument, the value
and what is allowed (or a warning where the call succeeds with a surprising meaning), the
model untouched.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from torch import nn

from initlab.rules import init_model, param_groups


def _net() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))


def _snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _refused(error: type[Exception], match: str, rules: object = "auto", **kwargs: object) -> None:
    model = _net()
    before = _snapshot(model)
    with pytest.raises(error, match=match):
        init_model(model, rules, seed=0, **kwargs)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


# --- param_groups -----------------------------------------------------------------------------


def test_param_groups_weight_decay_not_a_number() -> None:
    with pytest.raises((TypeError, ValueError), match=r"weight_decay='x' must be a .*number"):
        param_groups(_net(), weight_decay="x")


def test_param_groups_unknown_option_lists_allowed() -> None:
    with pytest.raises(TypeError, match=r"foo.*(allowed|one of).*weight_decay"):
        param_groups(_net(), foo=1)


def test_param_groups_no_decay_names_matching_nothing() -> None:
    with (
        pytest.raises((ValueError, UserWarning), match=r"no_decay_names.*'\['"),
        warnings.catch_warnings(),
    ):
        warnings.simplefilter("error")
        param_groups(_net(), no_decay_names=["["])


# --- init_model arguments ---------------------------------------------------------------------


def test_init_model_list_instead_of_module() -> None:
    with pytest.raises(TypeError, match=r"model=.*list.*nn\.Module"):
        init_model([nn.Linear(2, 2)], "auto", seed=0)  # type: ignore[arg-type]


def test_init_model_bogus_device() -> None:
    _refused(ValueError, r"device='bogus' is not a device; expected 'cpu', 'cuda'", device="bogus")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a build without CUDA devices")
def test_init_model_cuda_on_cpu_build() -> None:
    _refused(ValueError, r"device='cuda': no cuda device is available", device="cuda")


def test_unknown_norm_type_warns() -> None:
    # A warning, not an error: one norm_types list may serve several models.
    with pytest.warns(UserWarning, match=r"norm_types entry 'Nope' matches no module"):
        init_model(_net(), "auto", seed=0, norm_types=["Nope"])


def test_dry_run_draws_no_seed() -> None:
    assert init_model(_net(), "auto", dry_run=True).seed is None


# --- rules ------------------------------------------------------------------------------------


def test_rule_module_not_a_pattern() -> None:
    _refused((TypeError, ValueError), r"module=3 .*(class|glob|str)",
             [{"scheme": "zeros", "module": 3}], default="torch")  # fmt: skip


def test_rule_args_not_a_dict() -> None:
    _refused((TypeError, ValueError), r"args=\[1\] must be a (dict|mapping)",
             [{"scheme": "he_normal", "args": [1]}])  # fmt: skip


RULES_AFTER = [{"scheme": "he_normal", "role": "weight"}, {"scheme": "zeros", "role": "bias"}]


def test_malformed_glob_is_refused() -> None:
    _refused(ValueError, r"rule #0.*name='\[0\.weight'", [{"scheme": "zeros", "name": "[0.weight"}, *RULES_AFTER])  # fmt: skip  # noqa: E501


def test_rule_matching_nothing_warns() -> None:
    rules = [{"scheme": "zeros", "name": "O.weight"}, *RULES_AFTER]  # letter O, not zero
    with pytest.warns(UserWarning, match=r"rule #0 .*name='O\.weight'.* matched no"):
        init_model(_net(), rules, seed=0)


# --- example_input ----------------------------------------------------------------------------


class _Untraceable(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(4, 8), nn.Linear(8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 1e9:
            x = x / 2
        return self.fc2(torch.tanh(self.fc1(x)))


def test_example_input_forward_failure_names_the_argument() -> None:
    with pytest.raises(ValueError, match=r"example_input.*\(3, 5\)"):
        init_model(_Untraceable(), "auto", seed=0, example_input=torch.zeros(3, 5))


def test_example_input_of_wrong_shape_is_not_ignored() -> None:
    _refused(ValueError, r"example_input.*\(3, 5\)", example_input=torch.zeros(3, 5))


def test_dict_example_input_is_keyword_inputs() -> None:
    plan = init_model(_Untraceable(), "auto", seed=0, example_input={"x": torch.zeros(3, 4)})
    assert plan["fc1.weight"].activation == "tanh"


# --- rules files ------------------------------------------------------------------------------


def test_load_rules_on_a_folder(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from initlab.rules import load_rules

    with pytest.raises(ValueError, match=r"is a folder"):
        load_rules(tmp_path)


def test_load_rules_invalid_yaml_names_the_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from initlab.rules import load_rules

    path = tmp_path / "r.yaml"
    path.write_text("rules: [\n")
    with pytest.raises(ValueError, match=r"r\.yaml.*line 2") as info:
        load_rules(path)
    assert "\n" not in str(info.value)

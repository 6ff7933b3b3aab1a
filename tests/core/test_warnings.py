"""Zero-element warnings name the function the user called and point at the user's line."""

import warnings

import pytest
import torch

import initlab

CASES = [
    ("ones_", lambda t: initlab.ones_(t)),
    ("positive_bias_", lambda t: initlab.positive_bias_(t)),
    ("dirac_", lambda t: initlab.dirac_(t.view(0, 1, 1))),
    ("lecun_normal_", lambda t: initlab.lecun_normal_(t)),
    ("he_truncated_normal_", lambda t: initlab.he_truncated_normal_(t)),
    ("variance_scaling_", lambda t: initlab.variance_scaling_(t)),
    ("kaiming_uniform_", lambda t: initlab.kaiming_uniform_(t)),
]


@pytest.mark.parametrize(("name", "call"), CASES, ids=[c[0] for c in CASES])
def test_zero_element_warning_names_the_called_function(name: str, call: object) -> None:
    tensor = torch.empty(0, 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert call(tensor) is tensor or tensor.numel() == 0  # type: ignore[operator]
    assert len(caught) == 1
    message = str(caught[0].message)
    assert message.startswith("Initializing zero-element tensors is a no-op")  # torch's text
    assert f"({name}, shape (0, 1" in message
    assert caught[0].filename == __file__


def test_xavier_rejects_negative_gain_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"gain=-1\.0 must be >= 0"):
        initlab.xavier_uniform_(torch.empty(3, 4), gain=-1.0)


def test_kaiming_spec_of_zero_fan_is_zero_std() -> None:
    assert initlab.initializers.KaimingNormal().spec((3, 0)).std == 0.0

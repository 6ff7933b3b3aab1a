"""Exact tests of fans under every layout, against closed forms and real modules."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from torch import nn

import initlab
import initlab._fans
from initlab import LAYOUTS, Fans, Layout, chunk_bounds, compute_fans, get_layout

# --- PyTorch's rule ("torch" layout) ------------------------------------------------------

TORCH_SHAPES = [(7, 3), (3, 7), (1, 1), (16, 8, 5), (64, 32, 3, 3), (4, 2, 3, 5, 7), (5, 0)]


@pytest.mark.parametrize("shape", TORCH_SHAPES)
def test_torch_layout_is_pytorchs_rule(shape):
    fans = compute_fans(shape)
    receptive = math.prod(shape[2:])
    assert (fans.fan_in, fans.fan_out) == (shape[1] * receptive, shape[0] * receptive)
    assert fans.receptive_field == receptive
    assert fans.batch == 1
    expected = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert (fans.fan_in, fans.fan_out) == expected


def test_fans_accept_torch_size_and_lists():
    assert compute_fans(torch.Size([6, 4])) == compute_fans([6, 4]) == Fans(4, 6)


def test_fan_avg_and_fan_by_mode():
    fans = Fans(fan_in=3, fan_out=6)
    assert fans.fan_avg == 4.5
    assert [fans.fan(m) for m in ("fan_in", "fan_out", "fan_avg")] == [3, 6, 4.5]
    with pytest.raises(ValueError, match=r"mode='fan_inn' is not one of .*did you mean 'fan_in'"):
        fans.fan("fan_inn")


# --- layouts: closed forms -----------------------------------------------------------------


@pytest.mark.parametrize("kernel", [(), (3,), (3, 5), (2, 3, 4)])
def test_keras_layout_kernel_in_out(kernel):
    shape = (*kernel, 32, 64)
    receptive = math.prod(kernel)
    assert compute_fans(shape, "keras") == Fans(32 * receptive, 64 * receptive, receptive, 1)


@pytest.mark.parametrize("batch", [(), (8,), (2, 3)])
def test_matmul_layout_leading_axes_are_batch_copies(batch):
    shape = (*batch, 128, 256)
    assert compute_fans(shape, "matmul") == Fans(128, 256, 1, math.prod(batch))


@pytest.mark.parametrize("kernel", [(), (3,), (3, 3)])
def test_experts_layout(kernel):
    receptive = math.prod(kernel)
    fans = compute_fans((8, 512, 128, *kernel), "experts")
    assert fans == Fans(128 * receptive, 512 * receptive, receptive, 8)


def test_torch_transposed_layout_differs_from_pytorchs_rule():
    weight = nn.ConvTranspose2d(32, 64, 3).weight  # (in, out, k, k)
    assert tuple(weight.shape) == (32, 64, 3, 3)
    fans = compute_fans(weight.shape, "torch_transposed")
    assert (fans.fan_in, fans.fan_out) == (32 * 9, 64 * 9)
    # PyTorch swaps them for transposed convolutions.
    assert nn.init._calculate_fan_in_and_fan_out(weight) == (64 * 9, 32 * 9)


def _conv_fans_by_probing(module: nn.Module, dims: int, in_channels: int) -> tuple[int, int]:
    """Ground truth: with all weights 1 and no bias, an interior output sums fan_in inputs,
    and the gradient reaching an interior input counts the fan_out weights it feeds."""
    with torch.no_grad():
        module.weight.fill_(1.0)
    x = torch.ones((1, in_channels, *(9,) * dims), dtype=torch.float64, requires_grad=True)
    y = module.double()(x)
    centre = (0, 0, *(s // 2 for s in y.shape[2:]))
    fan_in = y[centre].item()
    y.sum().backward()
    fan_out = x.grad[(0, 0, *(4,) * dims)].item()
    return int(fan_in), int(fan_out)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_conv_fans_match_the_module(dims, groups):
    conv = [nn.Conv1d, nn.Conv2d, nn.Conv3d][dims - 1](8, 12, 3, groups=groups, bias=False)
    layout = get_layout("torch").with_(groups=groups)
    fans = compute_fans(conv.weight.shape, layout)
    assert (fans.fan_in, fans.fan_out) == _conv_fans_by_probing(conv, dims, 8)


@pytest.mark.parametrize("dims", [1, 2, 3])
@pytest.mark.parametrize("groups", [1, 2, 4])
def test_grouped_conv_transpose_fans_match_the_module(dims, groups):
    cls = [nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d][dims - 1]
    conv = cls(8, 12, 3, groups=groups, bias=False)
    layout = get_layout("torch_transposed").with_(groups=groups)
    fans = compute_fans(conv.weight.shape, layout)
    assert (fans.fan_in, fans.fan_out) == _conv_fans_by_probing(conv, dims, 8)


def test_groups_default_keeps_pytorchs_rule_for_grouped_conv():
    weight = nn.Conv2d(8, 12, 3, groups=4).weight  # (12, 2, 3, 3)
    fans = compute_fans(weight.shape)
    assert (fans.fan_in, fans.fan_out) == nn.init._calculate_fan_in_and_fan_out(weight)


def test_groups_must_divide_channels():
    with pytest.raises(
        ValueError, match=r"groups=5 does not divide the channels .*\(12, 2, 3, 3\)"
    ):
        compute_fans((12, 2, 3, 3), get_layout("torch").with_(groups=5))


# --- packed chunks -------------------------------------------------------------------------


def test_even_chunks_give_one_chunks_fans():
    layout = get_layout("torch").with_(chunks=3)
    assert compute_fans((3 * 256, 128), layout) == Fans(128, 256)
    assert chunk_bounds((12, 4), layout) == [(0, 0, 4), (0, 4, 4), (0, 8, 4)]


def test_uneven_chunks_bounds_and_error():
    layout = get_layout("torch").with_(chunks=(256, 64, 64))
    assert chunk_bounds((384, 128), layout) == [(0, 0, 256), (0, 256, 64), (0, 320, 64)]
    with pytest.raises(ValueError, match=r"different fans; compute them per chunk"):
        compute_fans((384, 128), layout)
    with pytest.raises(ValueError, match=r"chunk sizes \(256, 64, 64\) sum to 384, not to axis 0"):
        chunk_bounds((100, 128), layout)


def test_chunks_must_divide_the_packed_axis():
    with pytest.raises(ValueError, match=r"chunks=3 does not divide axis 0 of size 10"):
        chunk_bounds((10, 4), get_layout("torch").with_(chunks=3))


def test_packed_axis_can_be_chosen():
    layout = get_layout("matmul").with_(chunks=4, packed_axis=-1)
    assert chunk_bounds((64, 256), layout) == [(1, i * 64, 64) for i in range(4)]
    assert compute_fans((64, 256), layout) == Fans(64, 64, 1, 1)


def test_unpacked_tensor_is_one_chunk():
    assert chunk_bounds((5, 3, 2)) == [(0, 0, 5)]


# --- Layout object -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(LAYOUTS))
def test_named_layouts_round_trip_through_json(name):
    layout = get_layout(name)
    assert layout.to_dict() == {"name": name}
    assert get_layout(json.loads(json.dumps(layout.to_dict()))) == layout
    changed = layout.with_(chunks=(2, 3), groups=1)
    again = Layout.from_dict(json.loads(json.dumps(changed.to_dict())))
    assert again == changed


def test_custom_layout_round_trip():
    layout = Layout(in_axes=(1, 2), out_axes=(0,), batch_axes=(3,), name="mine")
    assert compute_fans((4, 5, 6, 7), layout) == Fans(30, 4, 1, 7)
    assert Layout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout


def test_layout_validation_messages():
    with pytest.raises(ValueError, match=r"groups=0 must be a positive integer"):
        Layout(in_axes=(1,), out_axes=(0,), groups=0)
    with pytest.raises(ValueError, match=r"grouped_axis='both' is not one of 'in', 'out'"):
        Layout(in_axes=(1,), out_axes=(0,), grouped_axis="both")
    with pytest.raises(ValueError, match=r"chunks=0 must be a positive integer"):
        Layout(in_axes=(1,), out_axes=(0,), chunks=0)
    with pytest.raises(ValueError, match=r"chunks=\(2, 0\) must be positive chunk sizes"):
        Layout(in_axes=(1,), out_axes=(0,), chunks=(2, 0))
    with pytest.raises(ValueError, match=r"uses an axis for two roles"):
        compute_fans((3, 4), Layout(in_axes=(0,), out_axes=(-2,)))
    with pytest.raises(ValueError, match=r"input axis 2 is out of range for a weight of shape"):
        compute_fans((3, 4), "experts")


def test_unknown_layout_lists_names_and_closest():
    with pytest.raises(
        ValueError, match=r"layout='kera' is not one of 'torch', .*'keras'.*did you mean 'keras'"
    ):
        get_layout("kera")
    with pytest.raises(TypeError, match=r"must be a layout name, a dict or an initlab.Layout"):
        get_layout(3)  # type: ignore[arg-type]


@pytest.mark.parametrize("shape", [(), (5,), torch.Size([7])])
def test_too_few_dims_names_shape_and_fix(shape):
    with pytest.raises(
        ValueError,
        match=rf"shape {re.escape(str(tuple(shape)))} with fewer than 2 dimensions.*zeros_",
    ):
        compute_fans(shape)


def test_public_surface_exports_layout_helpers():
    assert initlab.compute_fans is compute_fans
    assert set(LAYOUTS) == {"torch", "torch_transposed", "matmul", "keras", "experts"}


# --- bad input and peers' modes --------------------------------------------------------------


def test_negative_dimension_is_refused():
    with pytest.raises(ValueError, match=r"shape=\(-4, 3\) has a negative dimension"):
        compute_fans((-4, 3))
    with pytest.raises(ValueError, match=r"shape=\(4, -3\) has a negative dimension"):
        chunk_bounds((4, -3))


def test_misspelt_layout_name_in_a_dict_gets_the_closest_match():
    with pytest.raises(
        ValueError, match=r"layout name='torchh' is not one of 'torch', .*did you mean 'torch'"
    ):
        get_layout({"name": "torchh"})
    with pytest.raises(ValueError, match=r"layout name='mine' is not a built-in layout .*needs"):
        get_layout({"name": "mine"})
    assert get_layout({"name": "mine", "in_axes": [1], "out_axes": [0]}).name == "mine"


def test_unknown_layout_field_lists_the_fields():
    with pytest.raises(
        TypeError,
        match=r"layout has no field\(s\) \['chunkz'\]; it takes 'name' and \['in_axes', "
        r".*'chunks'.*\(did you mean 'chunks'\?\)",
    ):
        get_layout({"name": "torch", "chunkz": 2})
    with pytest.raises(TypeError, match=r"layout has no field\(s\) \['chunkz'\]"):
        get_layout("torch").with_(chunkz=2)


def test_layout_field_types_are_checked():
    with pytest.raises(TypeError, match=r"in_axes=\[1\] must be a tuple of ints"):
        Layout(in_axes=[1], out_axes=(0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"chunks='3' must be positive chunk sizes"):
        get_layout({"name": "torch", "chunks": "3"})


def test_fan_geo_avg_is_jaxs_geometric_mean():
    fans = Fans(fan_in=4, fan_out=9)
    assert fans.fan("fan_geo_avg") == fans.fan_geo_avg == 6.0
    assert "fan_geo_avg" in initlab._fans.FAN_MODES


def test_walker_chunks_match_chunk_bounds_and_carry_part_shapes_and_fans():
    layout = {"name": "torch", "chunks": [8, 2, 2], "packed_axis": 1}
    chunks = initlab._fans.walk_chunks((6, 12, 3), layout)
    assert [(c.axis, c.start, c.length) for c in chunks] == chunk_bounds((6, 12, 3), layout)
    assert [c.shape for c in chunks] == [(6, 8, 3), (6, 2, 3), (6, 2, 3)]
    assert [c.fans.fan_in for c in chunks] == [24, 6, 6]
    t = torch.arange(6 * 12 * 3).reshape(6, 12, 3)
    assert torch.equal(chunks[1].narrow(t), t[:, 8:10])

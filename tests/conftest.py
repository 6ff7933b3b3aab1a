"""Shared fixtures: kept small and generic, since every test module in tests/ sees them."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
import torch


@pytest.fixture
def make_generator() -> Callable[[int], torch.Generator]:
    """A factory for fresh CPU generators: ``make_generator(seed)``."""

    def make(seed: int) -> torch.Generator:
        return torch.Generator().manual_seed(seed)

    return make


@pytest.fixture
def preserve_global_rng() -> Iterator[None]:
    """Restore PyTorch's global CPU RNG state after a test that seeds or draws from it."""
    state = torch.random.get_rng_state()
    try:
        yield
    finally:
        torch.random.set_rng_state(state)

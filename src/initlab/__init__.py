"""initlab: neural-network weight initialization made correct, visible and fast."""

from initlab._sampling import GeneratorLike, Sampler, TorchSampler, as_sampler

__version__ = "0.1.0"

__all__ = ["GeneratorLike", "Sampler", "TorchSampler", "__version__", "as_sampler"]

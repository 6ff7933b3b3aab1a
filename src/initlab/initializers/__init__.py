"""Initializer classes and their registry: Keras's home for them, ``initlab.initializers``.

Objects validated when built, seeded explicitly, serializable to and from
``{"class_name", "config"}`` dicts (Keras 3 configs included), and described
without sampling by ``spec(shape)``.

Two families of names, each drawing what its namesake draws (see ``docs/api.md``):

- Keras's: ``GlorotUniform``, ``GlorotNormal``, ``HeUniform``, ``HeNormal``,
  ``LecunUniform``, ``LecunNormal``, ``VarianceScaling``, ``RandomNormal``,
  ``RandomUniform``, ``TruncatedNormal``, ``Orthogonal``, ``Identity``, ``Constant``,
  ``Zeros``, ``Ones``. Their ``*Normal`` variants are truncated at ±2σ, as in Keras.
- PyTorch's: ``XavierNormal``, ``KaimingUniform``, ``KaimingNormal`` (untruncated).

Documented aliases (one class, two names): ``XavierUniform`` = ``GlorotUniform``,
``HeTruncatedNormal`` = ``HeNormal``, ``GlorotTruncatedNormal`` = ``GlorotNormal``,
``LecunTruncatedNormal`` = ``LecunNormal``.

>>> from initlab import initializers
>>> initializers.get("he_normal", seed=0).spec((256, 128)).std
0.125
"""

# ruff: noqa: F401  (re-exported through __all__, built from _initializers.__all__)
from initlab import _initializers
from initlab._initializers import (
    Chunked,
    Constant,
    DeltaOrthogonal,
    GlorotNormal,
    GlorotTruncatedNormal,
    GlorotUniform,
    HeNormal,
    HeTruncatedNormal,
    HeUniform,
    Identity,
    Initializer,
    InitSpec,
    KaimingNormal,
    KaimingUniform,
    LecunNormal,
    LecunTruncatedNormal,
    LecunUniform,
    Ones,
    Orthogonal,
    RandomNormal,
    RandomUniform,
    Sparse,
    TruncatedNormal,
    VarianceScaling,
    XavierNormal,
    XavierUniform,
    Zeros,
    with_layout,
)
from initlab._registry import InitializerLike, deserialize, get, known_names, register, serialize

# The classes' own list plus the registry: one list to keep, not two.
__all__ = sorted(
    {
        *_initializers.__all__,
        "InitializerLike",
        "deserialize",
        "get",
        "known_names",
        "register",
        "serialize",
    }
)

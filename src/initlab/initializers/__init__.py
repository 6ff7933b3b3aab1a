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

__all__ = [
    "Chunked",
    "Constant",
    "DeltaOrthogonal",
    "GlorotNormal",
    "GlorotTruncatedNormal",
    "GlorotUniform",
    "HeNormal",
    "HeTruncatedNormal",
    "HeUniform",
    "Identity",
    "InitSpec",
    "Initializer",
    "InitializerLike",
    "KaimingNormal",
    "KaimingUniform",
    "LecunNormal",
    "LecunTruncatedNormal",
    "LecunUniform",
    "Ones",
    "Orthogonal",
    "RandomNormal",
    "RandomUniform",
    "Sparse",
    "TruncatedNormal",
    "VarianceScaling",
    "XavierNormal",
    "XavierUniform",
    "Zeros",
    "deserialize",
    "get",
    "known_names",
    "register",
    "serialize",
    "with_layout",
]

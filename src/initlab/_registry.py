"""One registry of initializer classes and one resolver, :func:`get`.

Names resolve in snake_case (``"he_normal"``) and as class names (``"HeNormal"``),
Keras's aliases included (``"OrthogonalInitializer"``); an unknown name raises with
the known names and the closest match. Configs are ``{"class_name", "config"}``
dicts, as Keras writes them (Keras 3's ``module`` and ``registered_name`` keys are
accepted), so a saved Keras initializer loads to the distribution Keras draws.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, Protocol, TypeVar, runtime_checkable

from initlab._validation import as_mapping, unknown_name_error

__all__ = ["InitializerLike", "deserialize", "get", "known_names", "register", "serialize"]


@runtime_checkable
class Initializer(Protocol):
    """What the registry needs of an initializer (``initlab.initializers.Initializer``
    has it): the registry sits below the classes it registers and never imports them."""

    def fill_(self, tensor: Any, generator: Any) -> Any: ...

    def spec(self, shape: Any) -> Any: ...

    def get_config(self) -> dict[str, Any]: ...


_REGISTRY: dict[str, Any] = {}
C = TypeVar("C", bound=type)

InitializerLike = str | Mapping[str, Any] | Initializer | Callable[..., Any]


def snake_case(name: str) -> str:
    """``"HeNormal"`` -> ``"he_normal"``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def register(*aliases: str) -> Callable[[C], C]:
    """Class decorator: register under the class name, its snake_case form and ``aliases``."""

    def add(cls: C) -> C:
        keys = (cls.__name__, snake_case(cls.__name__), *aliases)
        # Check every name before adding any: a refused class leaves no partial entries.
        for key in keys:
            if key in _REGISTRY and _REGISTRY[key] is not cls:
                raise ValueError(f"initializer name {key!r} is already registered")
        for key in keys:
            _REGISTRY[key] = cls
        return cls

    return add


def known_names() -> list[str]:
    """Every snake_case name and alias the resolver accepts (class names too)."""
    return sorted(_REGISTRY)


def _lookup(name: str) -> Any:
    if name not in _REGISTRY:
        raise unknown_name_error("initializer", name, sorted(k for k in _REGISTRY if k.islower()))
    return _REGISTRY[name]


def serialize(initializer: Initializer) -> dict[str, Any]:
    """``{"class_name": ..., "config": {...}}``, JSON-ready."""
    if not isinstance(initializer, Initializer):
        raise TypeError(
            f"serialize() takes an initlab Initializer, got {type(initializer).__name__}"
        )
    return {"class_name": type(initializer).__name__, "config": initializer.get_config()}


#: Keys of a Keras 3 serialized object that say nothing about the distribution.
_KERAS_KEYS = ("module", "registered_name")


def deserialize(config: Mapping[str, Any]) -> Initializer:
    """Inverse of :func:`serialize`; ``{"class_name": "he_normal"}`` works too, and so
    does a Keras 3 ``keras.initializers.serialize`` dict.

    >>> deserialize({"module": "keras.initializers", "class_name": "RandomNormal",
    ...              "config": {"mean": 0.0, "stddev": 0.02, "seed": None},
    ...              "registered_name": None})
    RandomNormal(seed=None, mean=0.0, std=0.02)
    """
    if isinstance(config, str):
        raise TypeError(
            f"deserialize() takes a config dict such as {{'class_name': {config!r}, "
            f"'config': {{...}}}}, not the string {config!r}; get({config!r}) builds one by name"
        )
    if not isinstance(config, Mapping):
        raise TypeError(
            f"deserialize() takes a config dict {{'class_name': ..., 'config': {{...}}}}, "
            f"got {type(config).__name__}"
        )
    if "class_name" not in config:
        raise ValueError(
            f"initializer config {dict(config)!r} needs a 'class_name' key "
            "(and optionally 'config' with the constructor arguments)"
        )
    extra = set(config) - {"class_name", "config", *_KERAS_KEYS}
    if extra:
        raise ValueError(
            f"initializer config has unknown keys {sorted(extra)}; it takes 'class_name', "
            "'config' (and Keras's 'module', 'registered_name')"
        )
    module = config.get("module")
    if module is not None and not str(module).startswith(("keras", "initlab")):
        raise ValueError(
            f"initializer config from module {module!r}: only Keras's and initlab's "
            "initializers are known"
        )
    if not isinstance(config["class_name"], str):
        raise TypeError(f"class_name={config['class_name']!r} must be a string")
    cls = _lookup(config["class_name"])
    return cls.from_config(dict(as_mapping("config", config.get("config"))))


def get(identifier: InitializerLike, **kwargs: Any) -> Any:
    """Resolve a name, a config dict, an Initializer or a callable to an initializer.

    ``kwargs`` are constructor arguments when ``identifier`` is a name; an unknown
    one raises with the arguments the class takes.

    >>> get("he_normal")
    HeNormal(seed=None, mode='fan_in', layout='torch', negative_slope=0.0)
    >>> get({"class_name": "Orthogonal", "config": {"gain": 2.0}})
    Orthogonal(seed=None, gain=2.0)
    >>> get("he_norml")
    Traceback (most recent call last):
    ...
    ValueError: initializer='he_norml' is not one of ... (did you mean 'he_normal'?)
    """
    if isinstance(identifier, str):
        return _lookup(identifier).from_config(kwargs)
    if kwargs:
        raise TypeError(
            f"keyword arguments are only accepted with an initializer name, not with a "
            f"{type(identifier).__name__} (got {sorted(kwargs)})"
        )
    if isinstance(identifier, Initializer):
        return identifier
    if isinstance(identifier, Mapping):
        return deserialize(identifier)
    if callable(identifier):
        return identifier
    raise TypeError(
        f"cannot interpret {identifier!r} as an initializer: pass a name, a config dict, "
        "an initlab Initializer or a callable"
    )

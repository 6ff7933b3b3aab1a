"""Declarative init rules: match by module type, name glob and role; name a scheme.

Match semantics (stated once, used everywhere): rules are tried in order and the
**first rule whose every given criterion matches wins**. A criterion left as
``None`` matches anything. ``module`` globs are compared with the class name of
the owning module and of each of its base classes (so ``"Linear"`` also matches
subclasses, ``"*Norm"`` matches ``LayerNorm`` and ``LlamaRMSNorm``); ``name``
globs are compared with the full qualified name (``fnmatchcase``); ``role`` with
the role from :data:`initlab.rules.ROLES`. A rule without ``role`` matches
parameters only; buffers are matched only by rules that name the ``buffer`` or
``running_stats`` role.
"""

from __future__ import annotations

import fnmatch
import json
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from initlab._fans import Layout, get_layout
from initlab._initializers import with_layout
from initlab._registry import get, known_names
from initlab._validation import unknown_name_error
from initlab.rules._fills import SPECIAL_SCHEMES
from initlab.rules._roles import ROLES

__all__ = ["BUILTIN_SCHEMES", "Rule", "RuleSet", "load_rules", "save_rules"]

#: Schemes the rule engine implements itself (not in the initializer registry); each
#: is a registered object in :data:`initlab.rules._fills.SPECIAL_SCHEMES`.
BUILTIN_SCHEMES = tuple(SPECIAL_SCHEMES)
#: Roles only a rule that names them matches (a rule without ``role`` skips them).
_EXPLICIT_ROLES = ("buffer", "running_stats", "frozen")

Patterns = tuple[str, ...] | None
PatternLike = str | Sequence[str] | None


def _patterns(value: str | Sequence[str] | None, arg: str) -> Patterns:
    if value is None:
        return None
    if isinstance(value, str):
        items: tuple[Any, ...] = (value,)
    elif isinstance(value, (list, tuple)):
        items = tuple(value)
    else:
        items = ()
    if not items or not all(isinstance(v, str) and v for v in items):
        raise TypeError(
            f"{arg}={value!r} must be a non-empty string or list of strings (glob patterns)"
        )
    for pattern in items:
        check_glob(arg, pattern)
    return items


def _compile(patterns: Patterns) -> re.Pattern[str] | None:
    """One regex for a list of globs, with ``fnmatchcase`` semantics."""
    if patterns is None:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns))


def check_glob(arg: str, pattern: str) -> None:
    """An unclosed ``[`` makes fnmatch match the bracket literally: almost always a typo."""
    depth = 0
    for i, char in enumerate(pattern):
        if char == "[" and depth == 0:
            depth, start = 1, i
        elif char == "]" and depth == 1 and i > start + 1:
            depth = 0
    if depth:
        raise ValueError(
            f"{arg}={pattern!r} has an unclosed '[' (a glob character class); "
            "write '[[]' for a literal '['"
        )


@dataclass(kw_only=True, frozen=True)
class Rule:
    """One declarative rule. See the module docstring for match semantics.

    ``scheme`` is a registered initializer name (``initlab.initializers.known_names()``) or one
    of :data:`BUILTIN_SCHEMES`; ``args`` its keyword arguments. ``layout`` is given
    to fan-based schemes; its ``chunks`` also splits schemes without a layout
    (orthogonal per LSTM gate) into independently filled chunks along dim 0.

    >>> Rule(scheme="zeros", role="bias").matches("fc.bias", ("Linear",), "bias")
    True
    """

    scheme: str
    args: Mapping[str, Any] = field(default_factory=dict)
    module: PatternLike = None
    name: PatternLike = None
    role: PatternLike = None
    layout: str | Mapping[str, Any] | None = None
    description: str = ""
    #: The globs compiled once: (role set, name regex, module regex); None matches all.
    _compiled: tuple[Any, Any, Any] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "module", _patterns(self.module, "module"))
        object.__setattr__(self, "name", _patterns(self.name, "name"))
        object.__setattr__(self, "role", _patterns(self.role, "role"))
        if not isinstance(self.args, Mapping):
            raise TypeError(
                f"args={self.args!r} must be a dict of the scheme's keyword arguments, "
                f"e.g. {{'std': 0.02}}"
            )
        object.__setattr__(self, "args", dict(self.args))
        for role in self._get("role") or ():
            if role not in ROLES:
                raise unknown_name_error("role", role, ROLES)
        if not isinstance(self.scheme, str):
            raise TypeError(f"scheme={self.scheme!r} must be a registered scheme name")
        if self.scheme not in BUILTIN_SCHEMES and self.scheme not in known_names():
            raise unknown_name_error("scheme", self.scheme, [*BUILTIN_SCHEMES, *known_names()])
        if self.layout is not None:
            self.layout_object()
        roles, names, modules = self._get("role"), self._get("name"), self._get("module")
        object.__setattr__(
            self,
            "_compiled",
            (frozenset(roles) if roles else None, _compile(names), _compile(modules)),
        )

    def layout_object(self) -> Layout | None:
        """The rule's layout as a :class:`initlab.Layout`, or None."""
        if self.layout is None:
            return None
        if isinstance(self.layout, str):
            return get_layout(self.layout)
        return Layout.from_dict(self.layout)

    def _get(self, criterion: str) -> Patterns:
        value = getattr(self, criterion)
        return None if value is None else tuple(value)

    def matches(self, qualified_name: str, module_types: Sequence[str], role: str) -> bool:
        """True when every given criterion matches (see the module docstring)."""
        roles, names, modules = self._compiled
        if roles is None:
            if role in _EXPLICIT_ROLES:
                return False
        elif role not in roles:
            return False
        if names is not None and names.match(qualified_name) is None:
            return False
        return modules is None or any(modules.match(t) is not None for t in module_types)

    def build(self, default_layout: Layout | None = None) -> Any:
        """The initializer this rule names, with its layout (raises on bad arguments).

        ``default_layout`` (the module's own, see ``initlab.rules._layouts``) is used by
        fan-based schemes when neither the rule nor its ``args`` name a layout."""
        if self.scheme in BUILTIN_SCHEMES:
            return None
        init = get(self.scheme, **self.args)
        layout = self.layout_object()
        if layout is not None:  # fan-based schemes take it, others fill it chunk by chunk
            return with_layout(init, layout)
        if default_layout is not None and "layout" not in self.args and hasattr(init, "layout"):
            return with_layout(init, default_layout)
        return init

    def describe(self) -> str:
        """A short human label: the description, or the criteria."""
        if self.description:
            return self.description
        parts = [f"{k}={','.join(v)}" for k, v in self._criteria().items() if v]
        return " ".join(parts) or "*"

    def _criteria(self) -> dict[str, Patterns]:
        return {"module": self._get("module"), "name": self._get("name"), "role": self._get("role")}

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; :meth:`from_dict` inverts it."""
        data: dict[str, Any] = {"scheme": self.scheme}
        if self.args:
            data["args"] = dict(self.args)
        for key, value in self._criteria().items():
            if value is not None:
                data[key] = value[0] if len(value) == 1 else list(value)
        if self.layout is not None:
            data["layout"] = self.layout if isinstance(self.layout, str) else dict(self.layout)
        if self.description:
            data["description"] = self.description
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Rule:
        """Build from a plain dict (unknown keys are an error)."""
        if not isinstance(data, Mapping):
            raise TypeError(f"a rule must be a dict, got {type(data).__name__}: {data!r}")
        allowed = ("scheme", "args", "module", "name", "role", "layout", "description")
        unknown = sorted(set(data) - set(allowed))
        if unknown:
            raise ValueError(
                f"rule {dict(data)!r} has unknown key(s) {unknown}; allowed: {allowed}"
            )
        if "scheme" not in data:
            raise ValueError(f"rule {dict(data)!r} needs a 'scheme' key")
        return cls(**dict(data))


def rules_from(items: Iterable[Rule | Mapping[str, Any]]) -> list[Rule]:
    """Rules from rules or rule dicts; an error names the rule's position in the list."""
    rules = []
    for index, item in enumerate(items):
        try:
            rules.append(item if isinstance(item, Rule) else Rule.from_dict(item))
        except (TypeError, ValueError) as exc:
            raise type(exc)(f"rule #{index}: {exc}") from None
    return rules


def module_type_names(module: nn.Module) -> tuple[str, ...]:
    """Class names of the module and its bases, most specific first."""
    return tuple(cls.__name__ for cls in type(module).__mro__ if cls is not object)


@dataclass(kw_only=True)
class RuleSet:
    """An ordered list of rules; the first match wins."""

    rules: list[Rule] = field(default_factory=list)
    name: str = "custom"
    source: str = ""

    def __post_init__(self) -> None:
        self.rules = rules_from(self.rules)

    def matching(
        self, qualified_name: str, module: nn.Module, role: str
    ) -> Iterator[tuple[int, Rule]]:
        """Every ``(index, rule)`` that matches, in rule order (the first one wins)."""
        types = module_type_names(module)
        for index, rule in enumerate(self.rules):
            if rule.matches(qualified_name, types, role):
                yield index, rule

    def match(self, qualified_name: str, module: nn.Module, role: str) -> tuple[int, Rule] | None:
        """The index and rule of the first match, or None."""
        return next(self.matching(qualified_name, module, role), None)

    def __add__(self, other: RuleSet | Iterable[Rule]) -> RuleSet:
        more = other.rules if isinstance(other, RuleSet) else list(other)
        return RuleSet(rules=[*self.rules, *more], name=self.name, source=self.source)

    def to_dict(self) -> dict[str, Any]:
        """``{"name": ..., "source": ..., "rules": [...]}``."""
        return {
            "name": self.name,
            "source": self.source,
            "rules": [r.to_dict() for r in self.rules],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> RuleSet:
        """From :meth:`to_dict`'s dict or a bare list of rule dicts."""
        if isinstance(data, Sequence) and not isinstance(data, (str, bytes)):
            return cls(rules=rules_from(data))
        if not isinstance(data, Mapping) or "rules" not in data:
            raise ValueError("a rule file must hold a list of rules or a dict with a 'rules' list")
        unknown = sorted(set(data) - {"name", "source", "rules"})
        if unknown:
            raise ValueError(f"rule set has unknown key(s) {unknown}; allowed: name, source, rules")
        rules = data["rules"]
        if not isinstance(rules, list):
            raise TypeError(f"'rules' must be a list, got {type(rules).__name__}")
        return cls(
            rules=rules_from(rules),
            name=str(data.get("name", "custom")),
            source=str(data.get("source", "")),
        )

    def to_json(self) -> str:
        """JSON text."""
        return json.dumps(self.to_dict(), indent=2)

    def to_yaml(self) -> str:
        """YAML text (loads back with ``yaml.safe_load``)."""
        import yaml

        return str(yaml.safe_dump(self.to_dict(), sort_keys=False))

    @classmethod
    def from_json(cls, text: str) -> RuleSet:
        """Parse JSON text."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"rules are not valid JSON: {exc}") from None
        return cls.from_dict(data)

    @classmethod
    def from_yaml(cls, text: str) -> RuleSet:
        """Parse YAML text with ``yaml.safe_load`` (no arbitrary objects)."""
        import yaml

        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
            problem = getattr(exc, "problem", None) or type(exc).__name__
            raise ValueError(f"rules are not valid YAML{where}: {problem}") from None
        return cls.from_dict(data)


def load_rules(path: str | Path) -> RuleSet:
    """Read rules from a ``.json``, ``.yaml`` or ``.yml`` file."""
    path = Path(path)
    if path.is_dir():
        raise ValueError(f"rules file {str(path)!r} is a folder; pass a .json or .yaml file")
    if not path.is_file():
        raise FileNotFoundError(f"rules file {str(path)!r} does not exist")
    suffix = path.suffix.lower()
    if suffix not in (".json", ".yaml", ".yml"):
        raise ValueError(f"rules file {str(path)!r} must end in .json, .yaml or .yml")
    text = path.read_text(encoding="utf-8")
    try:
        return RuleSet.from_json(text) if suffix == ".json" else RuleSet.from_yaml(text)
    except ValueError as exc:
        raise ValueError(f"rules file {str(path)!r}: {exc}") from None


def save_rules(rules: RuleSet, path: str | Path) -> None:
    """Write rules as JSON or YAML, chosen by the file suffix."""
    path = Path(path)
    if path.suffix.lower() == ".json":
        path.write_text(rules.to_json(), encoding="utf-8")
    elif path.suffix.lower() in (".yaml", ".yml"):
        path.write_text(rules.to_yaml(), encoding="utf-8")
    else:
        raise ValueError(f"rules file {str(path)!r} must end in .json, .yaml or .yml")

"""Typed fields of frozen dataclasses, parsed and checked once where they are defined.

`Config` (config.py) and every model's options class (models/) declare their fields with `setting`
and call `check_fields` from `__post_init__`: a value from the command line, a Python caller or a
run directory's JSON is parsed by its annotation and refused in one line naming the field.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import field
from pathlib import Path
from typing import Any

from benchmark.core.errors import BenchmarkError


class ConfigError(BenchmarkError, ValueError):
    """A configuration value the user gave is not usable; `field` names it."""

    def __init__(self, field_name: str, message: str):
        super().__init__(f"{field_name} {message}")
        self.field = field_name
        self.reason = message


def setting(
    default: Any = dataclasses.MISSING,
    *,
    choices: Any = None,
    low: float | None = None,
    high: float | None = None,
    above: float | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field with the limits `check_fields` enforces: allowed values (a tuple, or a function
    returning one, for names registered elsewhere), inclusive bounds, or a strict lower bound."""
    metadata = {"choices": choices, "low": low, "high": high, "above": above}
    if factory is not None:
        return field(default_factory=factory, metadata=metadata)
    return field(default=default, metadata=metadata)


def check_fields(instance: Any) -> None:
    """Parse every field of a frozen dataclass from its annotation and check its limits, in place.

    The one validator: `Config` and every model's options class call it from `__post_init__`.
    """
    hints = typing.get_type_hints(type(instance))
    for attribute in dataclasses.fields(instance):
        value = parse_value(attribute.name, hints[attribute.name], getattr(instance, attribute.name))
        if isinstance(value, tuple) and attribute.metadata.get("choices") is not None:
            value = tuple(dict.fromkeys(value))  # `--models A A` is A once: records say what ran
        _check_limits(attribute, value)
        object.__setattr__(instance, attribute.name, value)


def parse_value(name: str, annotation: Any, value: Any) -> Any:
    """`value` (a Python value, a JSON value or a command-line string) as `annotation` says."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        empty = value is None or (isinstance(value, str) and value.strip().lower() in ("none", "null", ""))
        if empty and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return parse_value(name, inner[0], value)
    if origin is tuple:
        items = _as_list(name, value)
        return tuple(parse_value(name, args[0], item) for item in items)
    if origin in (dict, Mapping) or annotation in (dict, Mapping):
        if isinstance(value, str):
            value = _json(name, value)
        if not isinstance(value, Mapping):
            raise ConfigError(name, f"must be a mapping, got {value!r}")
        return {str(k): v for k, v in value.items()}
    if annotation is bool:
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(name, f"must be true or false, got {value!r}")
    if annotation is int:
        if isinstance(value, bool):
            raise ConfigError(name, f"must be a whole number, got {value!r}")
        try:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value) if not isinstance(value, str) else int(value.strip())
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be a whole number, got {value!r}") from None
    if annotation is float:
        if isinstance(value, bool):
            raise ConfigError(name, f"must be a number, got {value!r}")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise ConfigError(name, f"must be a number, got {value!r}") from None
    if annotation is Path:
        if not isinstance(value, (str, Path)) or not str(value):
            raise ConfigError(name, f"must be a path, got {value!r}")
        return Path(value)
    if annotation is str:
        if not isinstance(value, str):
            raise ConfigError(name, f"must be text, got {value!r}")
        return value
    return value


def _json(name: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise ConfigError(name, f"is not valid JSON: {text!r}") from None


def _as_list(name: str, value: Any) -> list[Any]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _json(name, text)
        else:
            return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(value, (list, tuple)):
        return list(value)
    return [value]


def _check_limits(attribute: dataclasses.Field, value: Any) -> None:
    meta = attribute.metadata
    choices = meta.get("choices")
    if choices is not None:
        allowed = choices() if callable(choices) else choices
        values = value if isinstance(value, tuple) else (value,)
        for item in values:
            if item is not None and item not in allowed:
                raise ConfigError(attribute.name, f"must be one of {', '.join(map(str, allowed))}, got {item!r}")
        if isinstance(value, tuple) and not value:
            raise ConfigError(attribute.name, f"needs at least one of {', '.join(map(str, allowed))}")
    bounded = any(meta.get(key) is not None for key in ("low", "high", "above"))
    if isinstance(value, tuple) and bounded and not value:
        raise ConfigError(attribute.name, "needs at least one value")
    for item in value if isinstance(value, tuple) else (value,):
        if item is None or isinstance(item, (dict, str, Path, bool)):
            continue
        if meta.get("low") is not None and item < meta["low"]:
            raise ConfigError(attribute.name, f"must be at least {_number(meta['low'])}, got {_number(item)}")
        if meta.get("high") is not None and item > meta["high"]:
            raise ConfigError(attribute.name, f"must be at most {_number(meta['high'])}, got {_number(item)}")
        if meta.get("above") is not None and item <= meta["above"]:
            raise ConfigError(attribute.name, f"must be more than {_number(meta['above'])}, got {_number(item)}")


def _number(value: float) -> str:
    """Whole numbers in full (a seed's limit is 4294967295, not 4.29497e+09), others short."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def plain(value: Any) -> Any:
    """JSON-ready: paths as text, tuples as lists, mappings recursively."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    return value

"""Stage settings from asset Configs, by field name: a stage's plain settings dataclass is filled from the
Config fields of the same names, so adding a setting means adding it in two typed places, never copying it."""

from __future__ import annotations

import dataclasses
from typing import TypeVar

import dagster as dg

T = TypeVar("T")


def settings_from(config: dg.Config, settings_cls: type[T]) -> T:
    """`settings_cls(**fields)` with every dataclass field taken from the Config field of the same name."""
    names = [f.name for f in dataclasses.fields(settings_cls)]
    missing = sorted(set(names) - set(type(config).model_fields))
    if missing:
        raise TypeError(f"{type(config).__name__} lacks {settings_cls.__name__}'s fields {missing}")
    values = config.model_dump()
    return settings_cls(**{name: values[name] for name in names})

"""Command-line flags generated from dataclass fields, so an option's default is written once: in the dataclass.

A field opts in with ``metadata=flag(...)``. ``add_flags`` adds its argparse argument, whose default is the field's
default as a user would type it (``--help`` shows it); ``read_flags`` turns the parsed namespace back into the
dataclass. A field holding another option dataclass (``metadata=flag_group("triton-")``) contributes that class's
flags under a prefix. ``changed_flags`` names the flags of the fields a caller set away from their defaults (the
export families refuse options they cannot honour with it).
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from acc.tools.cli import show_default

_FLAG = "acc_flag"
_GROUP = "acc_flag_group"


@dataclass(frozen=True)
class Flag:
    """How one dataclass field is spelled on the command line."""

    help: str
    names: tuple[str, ...] = ()  # default --<field-name> in kebab-case; --no-<field-name> for a field on by default
    parse: Callable[[str, str], Any] | None = None  # (text, flag) → value, for lists and ranges; errors are one line
    type: Callable[[str], Any] | None = None  # argparse type of a scalar; default: the type of the field's default
    choices: tuple[str, ...] | None = None
    metavar: str | None = None
    positional: bool = False  # an optional positional argument (``acc-export BUNDLE``)


def flag(help: str, **spelling: Any) -> dict[str, Flag]:
    """``field(metadata=flag(...))``: the field is a command-line flag (``Flag`` says how it is spelled)."""
    return {_FLAG: Flag(help, **spelling)}


def flag_group(prefix: str) -> dict[str, str]:
    """``field(metadata=flag_group("triton-"))``: the field's own option dataclass adds its flags under ``prefix``."""
    return {_GROUP: prefix}


def add_flags(parser: argparse.ArgumentParser, cls: type, prefix: str = "") -> None:
    """One argparse argument per flagged field of ``cls`` (and of its flag groups), in field order."""
    for field in dataclasses.fields(cls):
        if _GROUP in field.metadata:
            add_flags(parser, type(_default(field)), prefix + field.metadata[_GROUP])
            continue
        spec: Flag | None = field.metadata.get(_FLAG)
        if spec is None:
            continue
        default, dest = _default(field), _dest(prefix, field.name)
        if spec.positional:
            parser.add_argument(dest, metavar=spec.metavar, type=spec.type, nargs="?", default=default, help=spec.help)
        elif isinstance(default, bool):
            action = "store_false" if default else "store_true"
            parser.add_argument(*_names(spec, prefix, field.name, default), dest=dest, action=action, help=spec.help)
        else:
            scalar = spec.type or (type(default) if default is not None else None)
            parser.add_argument(*_names(spec, prefix, field.name, default), dest=dest,
                                type=str if spec.parse else scalar,
                                default=show_default(default) if spec.parse else default,
                                choices=spec.choices, metavar=spec.metavar, help=spec.help)  # fmt: skip


def read_flags(args: argparse.Namespace, cls: type, prefix: str = "") -> Any:
    """``cls`` from parsed arguments; a field whose flag the parser lacks keeps the dataclass default."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(cls):
        if _GROUP in field.metadata:
            values[field.name] = read_flags(args, type(_default(field)), prefix + field.metadata[_GROUP])
            continue
        spec: Flag | None = field.metadata.get(_FLAG)
        dest = _dest(prefix, field.name)
        if spec is None or not hasattr(args, dest):
            continue
        value = getattr(args, dest)
        if spec.parse is not None and isinstance(value, str):
            value = spec.parse(value, _names(spec, prefix, field.name, _default(field))[-1])
        values[field.name] = value
    return cls(**values)


def changed_flags(options: Any, names: Iterable[str], prefix: str = "") -> list[tuple[str, str]]:
    """``(flag, setting as typed)`` for each field of ``names`` that ``options`` sets away from its default."""
    changed: list[tuple[str, str]] = []
    by_name = {field.name: field for field in dataclasses.fields(options)}
    for name in names:
        field, value = by_name[name], getattr(options, name)
        if value == _default(field):
            continue
        if _GROUP in field.metadata:
            group = [f.name for f in dataclasses.fields(value)]
            changed += changed_flags(value, group, prefix + field.metadata[_GROUP])
            continue
        spec: Flag | None = field.metadata.get(_FLAG)
        if spec is None:  # an API-only field: named as the keyword argument it is
            changed.append((name, f"{name}={value!r}"))
            continue
        flag_name = spec.metavar if spec.positional else _names(spec, prefix, name, _default(field))[-1]
        shown = flag_name if isinstance(value, bool) or spec.positional else f"{flag_name} {show_default(value)}"
        changed.append((flag_name, shown))
    return changed


def _default(field: dataclasses.Field) -> Any:
    if field.default_factory is not dataclasses.MISSING:
        return field.default_factory()
    return field.default


def _dest(prefix: str, name: str) -> str:
    return (prefix + name).replace("-", "_")


def _names(spec: Flag, prefix: str, name: str, default: Any) -> tuple[str, ...]:
    if spec.names:
        return spec.names
    kebab = (prefix + name).replace("_", "-")
    return (f"--no-{kebab}",) if default is True else (f"--{kebab}",)

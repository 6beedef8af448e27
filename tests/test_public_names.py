"""Every name a package lists in ``__all__`` resolves: lazy (PEP 562) export tables name modules by string, so a
module moved or renamed leaves a name that fails only when a user reaches for it."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

ROOTS = ("acc.modeling", "acc.profiles", "acc.exporter", "acc.runtime", "acc.tools")  # pyproject's package-dir


def _packages() -> list[str]:
    """Every package under the roots (an editable install's ``acc`` namespace cannot be walked itself)."""
    names = list(ROOTS)
    for root in ROOTS:
        module = importlib.import_module(root)
        names += [i.name for i in pkgutil.walk_packages(module.__path__, f"{root}.") if i.ispkg]
    return sorted(set(names))


@pytest.mark.parametrize("package", _packages())
def test_every_public_name_resolves(package: str) -> None:
    module = importlib.import_module(package)
    broken = []
    for name in getattr(module, "__all__", ()):
        try:
            getattr(module, name)
        except (AttributeError, ImportError) as exc:
            broken.append(f"{name}: {type(exc).__name__}: {exc}")
    assert not broken, f"{package}.__all__ names what it cannot import: {broken}"

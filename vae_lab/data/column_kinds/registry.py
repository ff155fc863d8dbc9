"""The column kinds by name: the one registry that the schema, the tabular likelihood and the fidelity code read.

``register_kind`` adds a kind (a ``Column`` subclass) and its likelihood factor; the built-in kinds are registered
when ``vae_lab.data.column_kinds`` is imported, and a kind of your own when the module defining it is (a module
named in ``data.plugins``, which the CSV data module imports).
"""

from typing import TYPE_CHECKING

from vae_lab.errors import ConfigError
from vae_lab.models.column_factors import register_factor

if TYPE_CHECKING:
    from vae_lab.data.column_kinds.column import Column

KINDS: dict[str, "type[Column]"] = {}


def register_kind(kind: "type[Column]") -> "type[Column]":
    """Register `kind` under ``kind.kind``, with its likelihood factor ``kind.factor``; returns it (usable as a decorator)."""
    KINDS[kind.kind] = kind
    register_factor(kind.kind, kind.factor)
    return kind


def kind_named(name: str) -> "type[Column]":
    """The registered kind called `name`, or a ConfigError listing the kinds."""
    if name not in KINDS:
        raise ConfigError(
            f"unknown column kind '{name}'; the registered kinds are {', '.join(KINDS)}. A kind of your own is registered "
            "by the module that defines it (vae_lab.data.column_kinds.register_kind): name that module in data.plugins"
        )
    return KINDS[name]


def overridable_kinds() -> list[str]:
    """Names of the kinds a user can set by name, data.<kind>=[...]."""
    return [name for name, kind in KINDS.items() if kind.overridable]


def detection_order() -> "list[type[Column]]":
    """The kinds in the order they are asked to claim a column (``Column.detect``)."""
    return sorted(KINDS.values(), key=lambda kind: kind.detection_rank)

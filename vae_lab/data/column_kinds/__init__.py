"""The kinds of table column: each a class holding what the kind does (``column.Column``), in one registry.

=============== ================================================ ======= ==================================
kind            values                                           slots   likelihood factor
=============== ================================================ ======= ==================================
``numeric``     numbers with many distinct values                1       ``FoldedGaussian``: Gaussian folded
                                                                         into the training range
``categorical`` labels, or numbers with few distinct values      k       ``Categorical``: softmax over k
                (discrete numbers: generated only on their
                training values)
``binary``      exactly two values                               1       ``Bernoulli``
``point_mass``  numbers where single values (0, a cap) hold       1+m+1   ``PointMass``: categorical over
                large shares of the rows                                  {each mass, continuous} x Gaussian
=============== ================================================ ======= ==================================

(and one slot more, the missingness indicator, for a column with missing training cells).

A kind of your own is a ``Column`` subclass (with a ``models.column_factors.ColumnFactor`` if none of the
built-in factors fits) passed to ``register_kind``, in a module that ``data.plugins=[your.module]`` names; its
override ``data.<kind>=[...]`` then sets it by name. How a value is read from and written to text (plain,
decorated number, boolean, date) is the column's ``ValueFormat`` (``cell_values``), whatever its kind.
"""

from vae_lab.data.column_kinds.categorical import BinaryColumn, CategoricalColumn
from vae_lab.data.column_kinds.column import Column, ValueType
from vae_lab.data.column_kinds.numeric import NumericColumn, PointMassColumn
from vae_lab.data.column_kinds.registry import KINDS, detection_order, kind_named, overridable_kinds, register_kind

for _kind in (NumericColumn, CategoricalColumn, BinaryColumn, PointMassColumn):
    register_kind(_kind)

__all__ = [
    "KINDS",
    "BinaryColumn",
    "CategoricalColumn",
    "Column",
    "NumericColumn",
    "PointMassColumn",
    "ValueType",
    "detection_order",
    "kind_named",
    "overridable_kinds",
    "register_kind",
]

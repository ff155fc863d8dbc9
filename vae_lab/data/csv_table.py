"""A table file as a data set: ``data=csv data.path=FILE.csv`` (or ``.tsv``, ``.txt``, compressed, ``.parquet``, ``.feather``, ``.arrow``).

The file is read as text (``table_files``), split into train/val/test rows at random with ``seed``
(``val_size`` and ``test_size``: fractions of all rows, or counts), and encoded by a ``TableSchema``
fitted on the training rows only (``table_schema``: column kinds, standardization, categories).
Batches carry ``mask`` (False in the value slots of missing cells) whenever a split has missing cells;
a column with missing training cells also has a missingness indicator slot, so its samples have missing
cells too (``data.generate_missing=false``: every cell is generated).

The fitted schema is the data module's ``state_dict``, which Lightning saves in every checkpoint:
a checkpoint rebuilds exactly the preprocessing it was trained with, and the file's dialect
(``table_files.TableDialect``) in which samples are written. With a restored schema the file is read
only when a split is needed, so sampling and imputation work without the training file.
"""

import importlib
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from vae_lab.config_schema import AtLeastOne, HeldOutSize
from vae_lab.data.conditions import condition_names
from vae_lab.data.in_memory import SPLITS, InMemoryDataModule, Split, split_rows
from vae_lab.data.table_files import TableDialect, read_table_text
from vae_lab.data.table_schema import SchemaOptions, TableSchema, infer_schema
from vae_lab.errors import ConfigError


class CSVDataModule(InMemoryDataModule):
    """Rows of a CSV file; see ``table_schema.SchemaOptions`` for the column options."""

    name = "csv"
    default_sample_mode = "sample"  # synthetic rows: draws, not the most likely category of every column

    def __init__(
        self,
        path: str,
        val_size: HeldOutSize = 0.1,
        test_size: HeldOutSize = 0.1,
        target: str | None = None,
        plugins: Sequence[str] = (),
        datetime: Sequence[str] = (),
        drop: Sequence[str] = (),
        log: Sequence[str] = (),
        quantile: Sequence[str] = (),
        skewed: str | None = "quantile",
        skew_threshold: float = 2.0,
        max_categories: int = 100,
        discrete_values: int = 20,
        point_mass_share: float = 0.01,
        snap_repeats: float | None = 5,
        clip: bool = True,
        generate_missing: bool = True,
        determined_columns: bool = True,
        datetime_format: str | None = None,
        thousands: str | None = None,
        decimal: str | None = None,
        na_values: Sequence[str] = (),
        standardize: bool = True,
        encoding: str = "utf-8",
        delimiter: str | None = None,
        batch_size: AtLeastOne = 256,
        min_epoch_rows: int = 0,
        eval_batch_size: AtLeastOne | None = None,
        seed: int = 0,
        pin_memory: bool = False,
        **columns_of_kind: Sequence[str],
    ) -> None:
        """plugins: modules to import first, which register column kinds of their own (``column_kinds.register_kind``).
        columns_of_kind: a kind's override name -> the columns set to that kind (``data.categorical=[...]`` and the
        other kinds that can be set by name)."""
        super().__init__(batch_size, eval_batch_size, seed, pin_memory)
        import_plugins(plugins)
        self.path = Path(path).expanduser()
        self.val_size = val_size
        self.test_size = test_size
        if min_epoch_rows < 0:
            raise ConfigError(f"data.min_epoch_rows must be >= 0, got {min_epoch_rows}")
        self.encoding, self.delimiter, self.min_epoch_rows = encoding, delimiter, min_epoch_rows
        self.options = SchemaOptions(
            kinds={kind: list(names) for kind, names in columns_of_kind.items()}, datetime=list(datetime),
            drop=list(drop), target=target, log=list(log), quantile=list(quantile), skewed=skewed,
            skew_threshold=skew_threshold, max_categories=max_categories, discrete_values=discrete_values,
            point_mass_share=point_mass_share, snap_repeats=snap_repeats, clip=clip, generate_missing=generate_missing, determined_columns=determined_columns,
            datetime_format=datetime_format, thousands=thousands, decimal=decimal, na_values=list(na_values), standardize=standardize,
        )  # fmt: skip
        self.schema: TableSchema | None = None
        self.dialect = TableDialect()
        self.rows: int | None = None

    @property
    def source(self) -> str:
        return str(self.path)

    def load_splits(self) -> dict[str, Split]:
        table = read_table_text(self.path, self.encoding, self.delimiter)
        self.rows = table.num_rows
        rows = split_rows(table.num_rows, self.val_size, self.test_size, self.seed, self.source)
        if self.schema is None:
            self.schema = infer_schema(table, rows["train"], self.options, self.source)
        self.dialect = TableDialect.of(table, [column.format for column in self.schema.columns])
        encoded = self.schema.transform(table, self.source)
        del table  # the text is not needed any more: the splits hold the encoded rows
        x, y = torch.from_numpy(encoded.x), torch.from_numpy(encoded.y)
        mask = None if encoded.mask is None else torch.from_numpy(encoded.mask)
        self.conditions = self.schema.conditions()
        condition = None if self.conditions is None else self.conditions.one_hot(torch.from_numpy(encoded.condition_codes))
        return {name: Split(x, y, mask, condition=condition).rows(torch.from_numpy(index)) for name, index in rows.items()}

    def condition_on(self, spec: str | list[str] | None) -> None:
        """Condition on the columns `spec` names (``model.condition``): they are kept out of the modelled
        columns, and their codes (categories, or deciles of a number) are every batch's ``condition``."""
        self.condition_names = condition_names(spec)
        self.options.condition = list(self.condition_names)

    def with_conditions(self, splits: dict[str, Split]) -> dict[str, Split]:
        """The splits as ``load_splits`` encoded them: the schema gives their conditions."""
        return splits

    def setup(self, stage: str | None = None) -> None:
        """Read the file, unless a restored schema already says all the model needs (then a split reads it)."""
        if stage is None and self.schema is not None:
            return
        super().setup(stage)

    def split(self, name: str) -> Split:
        if self.splits is None and name in SPLITS:
            self.splits = self.load_splits()
        return super().split(name)

    def train_repeats(self) -> int:
        """Passes over the training rows per epoch: enough for ``min_epoch_rows`` rows, so that a table of a
        few dozen rows trains for as many steps per epoch as one of thousands."""
        return max(1, math.ceil(self.min_epoch_rows / len(self.split("train"))))

    def fitted_schema(self) -> TableSchema:
        """The schema, fitting it on the training rows if it was not restored from a checkpoint."""
        if self.schema is None:
            self.split("train")
        assert self.schema is not None  # load_splits fits it
        return self.schema

    @property
    def data_shape(self) -> tuple[int, ...]:
        return (self.fitted_schema().width,)

    def likelihood_kwargs(self) -> dict[str, Any]:
        """The column layout for ``likelihood=tabular``."""
        return {"columns": self.fitted_schema().layout()}

    def state_dict(self) -> dict[str, Any]:
        if self.schema is None:
            return {}
        return {"schema": self.schema.state_dict(), "path": str(self.path.absolute()), "rows": self.rows, "dialect": self.dialect.state_dict()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the fitted schema; splits already encoded with a different one are encoded again."""
        if not state_dict:
            return
        schema = TableSchema.from_state_dict(state_dict["schema"])
        if self.schema is not None and self.schema.state_dict() != schema.state_dict():
            self.splits = None
        self.schema = schema
        self.conditions = schema.conditions()
        self.rows = self.rows or state_dict.get("rows")
        self.dialect = TableDialect.from_state(state_dict.get("dialect"))

    def to_frame(self, x: torch.Tensor, given: dict[str, list[str]] | None = None) -> pd.DataFrame:
        """Model rows x: (n, width) as a table: every column of the file in file order with its name (``TableSchema.
        with_dropped_columns``: constant ones as they were, row numbers counted afresh, the target and other dropped
        columns empty), integers as integers and categories as their labels, after the condition columns as `given`
        (each variable's n values by name)."""
        schema = self.fitted_schema()
        frame = schema.inverse(x, schema.generated_mask(x), generated=True)
        # The constants' cells drawn with the torch seed that drew x (the torch stream untouched where there is none).
        generator = np.random.default_rng(int(torch.randint(2**62, ())) if schema.constants else 0)
        frame = schema.with_dropped_columns(frame, generator)
        for position, (name, values) in enumerate((given or {}).items()):
            frame.insert(position, name, values)
        return frame

    def provenance(self) -> dict[str, Any]:
        schema = self.fitted_schema()
        return {
            "dataset": self.name,
            "path": str(self.path.absolute()),
            "rows": self.rows,
            "columns": schema.columns_by_kind(),
            "dropped": dict(schema.dropped),
            "target": None if schema.target is None else schema.target.name,
            "condition": self.condition_names,
        }


def import_plugins(modules: Sequence[str]) -> None:
    """Import each module of ``data.plugins`` (which registers its column kinds), or a ConfigError naming the one that fails."""
    for module in modules:
        try:
            importlib.import_module(str(module))
        except ImportError as error:
            raise ConfigError(f"data.plugins names '{module}', which cannot be imported ({error}); install it or put its folder on PYTHONPATH") from None

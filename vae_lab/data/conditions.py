"""What a conditional VAE is conditioned on (``model.condition``), and the map between asked values and
the model's condition vectors.

A condition is one or more variables, each taking one of a fixed list of values learned from the
training rows: an image's label, a table's categorical, binary or discrete column, or a numeric column
cut into quantile bins. The model sees the one-hot codes of all variables side by side:
``condition`` (n, width). A row whose value is missing has zeros in that variable's slots.
"""

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch

from vae_lab.errors import ConfigError


@dataclass
class ConditionVariable:
    """One variable: its `name` and its `values` as text, in slot order. A numeric column cut into bins also
    keeps the bin `edges` (len(values) + 1, increasing): a number asked for falls in one of them."""

    name: str
    values: list[str]
    edges: list[float] = field(default_factory=list)

    def code(self, asked: Any) -> int:
        """The slot of the value `asked` (text, or a number for a binned column); a ConfigError naming the
        values this variable takes when it is not one of them."""
        if self.edges:
            try:
                number = float(asked)
            except ValueError:
                number = float("nan")
            if self.edges[0] <= number <= self.edges[-1]:
                return int(np.clip(np.searchsorted(self.edges, number, side="right") - 1, 0, len(self.values) - 1))
            raise ConfigError(
                f"condition {self.name}={asked} is outside the training range [{self.edges[0]:g}, {self.edges[-1]:g}] of {self.name}; "
                "ask for a number in that range"
            )
        text = str(asked)
        if text not in self.values:
            shown = ", ".join(self.values[:20]) + (f" and {len(self.values) - 20} more" if len(self.values) > 20 else "")
            raise ConfigError(f"condition {self.name}={asked} was never seen in training; {self.name} takes one of: {shown}")
        return self.values.index(text)


class Conditions:
    """The condition variables of a model, in slot order: codes <-> one-hot condition vectors."""

    def __init__(self, variables: Sequence[ConditionVariable]) -> None:
        self.variables = list(variables)

    @property
    def names(self) -> list[str]:
        return [variable.name for variable in self.variables]

    @property
    def width(self) -> int:
        return sum(len(variable.values) for variable in self.variables)

    def one_hot(self, codes: torch.Tensor) -> torch.Tensor:
        """codes (n, variables) int64, -1 where missing -> condition (n, width) float32."""
        blocks = []
        for i, variable in enumerate(self.variables):
            code = codes[:, i]
            block = torch.zeros(len(codes), len(variable.values))
            known = code >= 0
            block[known, code[known]] = 1.0
            blocks.append(block)
        return torch.cat(blocks, dim=1)

    def codes(self, condition: torch.Tensor) -> torch.Tensor:
        """condition (n, width) -> codes (n, variables) int64: each variable's slot with the largest value."""
        blocks = condition.split([len(variable.values) for variable in self.variables], dim=1)
        return torch.stack([block.argmax(dim=1) for block in blocks], dim=1)

    def values(self, codes: torch.Tensor) -> dict[str, list[str]]:
        """codes (n, variables) -> each variable's values as text, by name."""
        return {variable.name: [variable.values[int(c)] for c in codes[:, i]] for i, variable in enumerate(self.variables)}

    def asked(self, request: Mapping[str, Any], count: int) -> torch.Tensor:
        """Condition vectors (count, width) for `request`: every variable's name -> one value (each of the
        `count` rows) or a sequence of `count` values (one per row). A missing, unknown or extra name, or
        a value never seen in training, is a ConfigError naming the choices."""
        unknown = sorted(set(request) - set(self.names))
        if unknown:
            raise ConfigError(f"condition.{unknown[0]} is not a condition of this model; it is conditioned on: {', '.join(self.names)}")
        absent = [name for name in self.names if name not in request]
        if absent:
            raise ConfigError(f"the model is conditioned on {', '.join(self.names)}; give a value for each: missing condition.{absent[0]}=VALUE")
        codes = torch.empty(count, len(self.variables), dtype=torch.long)
        for i, variable in enumerate(self.variables):
            wanted = request[variable.name]
            if isinstance(wanted, (list, tuple)):
                if len(wanted) != count:
                    raise ConfigError(f"condition.{variable.name} gives {len(wanted)} values for {count} rows; give one, or one per row")
                codes[:, i] = torch.tensor([variable.code(value) for value in wanted])
            else:
                codes[:, i] = variable.code(wanted)
        return self.one_hot(codes)

    def requested(self, request: Mapping[str, Any], count: int) -> tuple[torch.Tensor, dict[str, list[str]]]:
        """Condition vectors for `request` as ``asked`` takes it, where one variable may be ``all``: `count` rows for
        each of its values in turn (a grid per class). Returns (condition (rows, width), each variable's values
        as given, by name)."""
        request = dict(request)
        every = [name for name, value in request.items() if str(value) == "all"]
        if len(every) > 1:
            raise ConfigError(f"only one condition can be 'all' (a grid of its values); got {', '.join(every)}")
        if every and every[0] in self.names:
            variable = self.variables[self.names.index(every[0])]
            request[every[0]] = [value for value in variable.values for _ in range(count)]
            count *= len(variable.values)
        condition = self.asked(request, count)
        given = {name: [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)] * count for name, value in request.items()}
        return condition, given

    def state_dict(self) -> list[dict[str, Any]]:
        return [asdict(variable) for variable in self.variables]

    @classmethod
    def from_state_dict(cls, state: list[dict[str, Any]]) -> "Conditions":
        return cls([ConditionVariable(**variable) for variable in state])


def condition_names(spec: str | Sequence[str] | None) -> list[str]:
    """``model.condition`` as a list of names: null -> [], ``label`` -> [label], [a, b] -> [a, b]."""
    if spec is None:
        return []
    return [str(spec)] if isinstance(spec, (str, int, float)) else [str(name) for name in spec]

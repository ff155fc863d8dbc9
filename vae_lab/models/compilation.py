"""torch.compile for the model's math, falling back to eager where no compiler works.

``torch.compile`` traces a function into one graph and generates fused kernels for it (C++ on a CPU,
Triton on a GPU). Where that cannot work (no C++ compiler on a CPU, an unsupported platform) the first
call fails; ``CompiledOrEager`` then warns once and runs the plain function from then on, so a config
that asks for compilation still trains everywhere.
"""

import logging
from collections.abc import Callable
from copy import deepcopy
from typing import Any

import torch

log = logging.getLogger(__name__)


class CompiledOrEager:
    """`function` compiled with torch.compile; the eager `function` if compiling it fails."""

    def __init__(self, function: Callable[..., Any]) -> None:
        self.function = function
        self.compiled: Callable[..., Any] | None = torch.compile(function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if self.compiled is not None:
            try:
                return self.compiled(*args, **kwargs)
            except torch._dynamo.exc.BackendCompilerFailed as error:
                log.warning(
                    "torch.compile cannot compile %s on this machine (%s); running it eagerly. Set model.compile=false to skip the attempt.",
                    getattr(self.function, "__qualname__", self.function),
                    str(error).splitlines()[0],
                )
                self.compiled = None
        return self.function(*args, **kwargs)

    def __deepcopy__(self, memo: dict) -> "CompiledOrEager":
        """A copy of a compiled model (e.g. for weight averaging) compiles its own bound methods."""
        copy = CompiledOrEager.__new__(CompiledOrEager)
        copy.function = deepcopy(self.function, memo)
        copy.compiled = None if self.compiled is None else torch.compile(copy.function)
        return copy

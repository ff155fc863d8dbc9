"""Startup checks of numeric config values: a bad value is one ConfigError naming its key."""

import math
from typing import Any

from vae_lab.errors import ConfigError


def check_number(name: str, value: Any, minimum: float | None = None, strict: bool = False, maximum: float | None = None) -> float:
    """`value` as a float, or a ConfigError unless it is a finite number >= minimum (> if `strict`) and <= maximum."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name} must be a number, got {value!r}") from None
    below = minimum is not None and (number <= minimum if strict else number < minimum)
    above = maximum is not None and number > maximum
    if not math.isfinite(number) or below or above:
        bounds = [f"{'>' if strict else '>='} {minimum:g}"] if minimum is not None else []
        bounds += [f"<= {maximum:g}"] if maximum is not None else []
        raise ConfigError(f"{name} must be a finite number{' ' + ' and '.join(bounds) if bounds else ''}, got {value}")
    return number

"""vae_lab's Optuna sweeper as a Hydra plugin: ``hydra/sweeper=optuna`` (``hparams_search=optuna``).

Hydra only instantiates plugins from the ``hydra_plugins`` package, so the class lives here and is a
thin adapter: the search itself is ``vae_lab.optuna_search``. Hydra imports every plugin module when a
command starts, so nothing heavy (optuna, torch) is imported here.
"""

from typing import Any

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig


class OptunaSweeper(Sweeper):
    """Hydra's Sweeper API over Optuna's ask/tell: settings in ``conf/hydra/sweeper/optuna.yaml``."""

    def __init__(self, **settings: Any) -> None:
        self.settings = settings
        self.search: Any = None  # the OptunaSearch, made in setup (importing Optuna only when a sweep runs)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from vae_lab.optuna_search import OptunaSearch

        self.search = OptunaSearch(self.settings, hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: list[str]) -> None:
        self.search.run(arguments)

"""MkDocs hook: the notebooks in notebooks/ become files of the site, at notebooks/<name>.ipynb.

The pages link them as ``notebooks/<name>.ipynb`` (from docs/notebooks.md), so ``mkdocs build --strict`` fails on a
link to a notebook that is not there. Nothing is copied into docs/; the notebooks are stored without outputs.
"""

from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files


def on_files(files: Files, config: MkDocsConfig) -> Files:
    repo = Path(config.config_file_path).parent
    for notebook in sorted((repo / "notebooks").glob("*.ipynb")):
        files.append(File.generated(config, f"notebooks/{notebook.name}", abs_src_path=str(notebook)))
    return files

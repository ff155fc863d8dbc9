"""LightningDataModules. Every one holds its splits as tensors in memory (``in_memory``) and exposes
``data_shape``, so models never hand-type sizes."""

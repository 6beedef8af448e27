"""Shipped checkpoints (``bert-sst2``), resolved by alias in ``acc.modeling.checkpoint``; data only, no code."""

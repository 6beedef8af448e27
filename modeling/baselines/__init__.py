"""Baselines of the accuracy–speedup study (issue #8; METHOD.md §6), on ACC's forward pass and FLOPs model.

- ``length_drop``: Length-Adaptive Transformer's LengthDrop sampling (sandwich rule, in-place distillation through
  acc-finetune's step); its evolutionary search is ``acc.profiles.search``.
- ``drop_restore``: Drop-and-Restore for token-level heads (every position comes back, in order).
- ``power_bert``: PoWER-BERT's soft-extraction configuration search, then hard extraction and re-training.
- ``training``: the one training loop they share (acc-finetune's step, optimizer and schedule).
- ``evaluation``: held-out split, fast accuracy for searches, dev rows for any profile.
- ``study`` / ``study_options`` / ``study_report``: the study's stages, options and merged report (``acc-study``).

Post-hoc ACC needs no module: it is a dense model evaluated with geometric profiles (``study.run_dense``).
Importing this package imports torch only through the modules that need it.
"""

from __future__ import annotations

__all__ = ["drop_restore", "evaluation", "length_drop", "power_bert", "study", "study_options", "study_report", "training"]

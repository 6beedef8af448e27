"""The accuracy–speedup study (issue #8; docs/METHOD.md#6-baselines): ACC against its relatives on one budget.

A research recipe kept out of the installed ``acc`` package: it builds on ``acc.modeling`` and ``acc.profiles`` but
nothing a user deploys imports it. Run it with ``benchmarks/study/run.sh`` (``python -m acc_study``).

- ``length_drop``: Length-Adaptive Transformer's LengthDrop sampling (sandwich rule, in-place distillation through
  acc-finetune's step); its evolutionary search is ``acc.profiles.search``.
- ``drop_restore``: Drop-and-Restore for token-level heads (every position comes back, in order).
- ``power_bert``: PoWER-BERT's soft-extraction configuration search, then hard extraction and re-training.
- ``training``: the one training loop they share (acc-finetune's step, optimizer and schedule).
- ``evaluation``: held-out split, fast accuracy for searches, dev rows for any profile.
- ``stages`` / ``options`` / ``report``: the study's stages, options and merged report; ``__main__`` the command line.

Post-hoc ACC needs no module: it is a dense model evaluated with geometric profiles (``stages.run_dense``).
Importing this package imports torch only through the modules that need it.
"""

from __future__ import annotations

__all__ = ["drop_restore", "evaluation", "length_drop", "options", "power_bert", "report", "stages", "training"]

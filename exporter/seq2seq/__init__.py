"""Export ACC T5 models: an encoder graph per profile (with ``ai.acc::TokenSelect``) plus one decoder-step graph
with a self-attention cache that cross-attends to the kept encoder vectors; validated end to end by generation.

Exported through ``acc.exporter.main_export`` (``Seq2SeqExport`` in ``acc.exporter.families``). The package imports
nothing on its own, so the runtime can import the torch-free ``names`` and ``step`` modules without loading torch.
"""

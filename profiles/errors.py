"""The error hierarchy of acc-deploy.

It lives in ``acc.profiles`` because that is the first stage of the pipeline, imported by every other stage and
free of heavy dependencies. Every message is one line: what went wrong, with context, then how to fix it.
"""

from __future__ import annotations


class AccError(Exception):
    """Base of every error acc-deploy raises on purpose."""


class ProfileError(AccError):
    """A speedup or profile that cannot be honoured."""


class ModelError(AccError):
    """A model name, checkpoint or configuration that cannot be loaded."""


class DataError(AccError):
    """Missing or malformed data files, or input text that cannot be processed."""


class ExportError(AccError):
    """A graph that could not be exported or checked."""


class ShapeError(ExportError):
    """An exported graph produced outputs of the wrong shape."""


class ToleranceError(ExportError):
    """An exported graph's outputs differ from the reference beyond tolerance."""


class EngineBuildError(AccError):
    """An engine could not be built (or no engine builder is installed)."""


class BundleError(AccError):
    """A bundle that is missing, corrupted, or written by an incompatible version."""


class PolicyError(AccError):
    """A request that no profile in the bundle can satisfy."""

"""The JSON bodies of acc-serve's ``/predict``: pydantic models, so FastAPI validates and documents them.

Field names are the Python API's keyword names (``speedup``, ``latency_budget_ms``, ``min_accuracy``), so a request
reads like the ``Runtime.predict`` call it becomes. Imported only by ``acc.runtime.server`` (pydantic comes with
the ``[serve]`` extra), never by ``acc.runtime`` itself.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class PredictRequest(BaseModel):
    """One text or a list of texts, plus at most the constraints ``Runtime.predict`` accepts.

    No constraint: the bundle's default profile, or the load-adaptive one when the server runs with ``--adaptive``.
    """

    model_config = ConfigDict(extra="forbid")

    text: str | None = Field(default=None, description="one text to classify")
    texts: list[str] | None = Field(default=None, min_length=1, description="several texts, answered in order")
    speedup: float | None = Field(default=None, description="run the profile with this target speedup (1 = dense)")
    latency_budget_ms: float | None = Field(default=None, description="most accurate profile whose p99 fits")
    min_accuracy: float | None = Field(default=None, description="fastest profile with at least this accuracy")
    best_effort: bool = Field(default=False, description="return the closest profile instead of 422")

    @model_validator(mode="after")
    def _exactly_one_input(self) -> PredictRequest:
        if (self.text is None) == (self.texts is None):
            raise ValueError("pass exactly one of 'text' (a string) or 'texts' (a list of strings)")
        return self

    def inputs(self) -> list[str]:
        return [self.text] if self.text is not None else list(self.texts or [])


class PredictResponse(BaseModel):
    """Labels and probabilities per text (in request order), the profile that ran them and the timings (ms)."""

    labels: list[str]
    label_ids: list[int]
    probabilities: list[list[float]]
    profile: str
    reason: str
    backend: str
    latency_ms: float = Field(description="graph run that served this request")
    queue_ms: float = Field(description="from arrival at the batcher to the start of that graph run")
    batch_size: int = Field(description="rows of that graph run (more than this request's when merged)")


class ErrorResponse(BaseModel):
    """Every error: one line saying what is wrong and how to fix it, and the error class."""

    detail: str
    error: str

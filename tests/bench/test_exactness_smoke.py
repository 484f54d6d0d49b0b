"""Smoke test of bench/exactness.py (the evidence behind checked batching's refusals): it runs, with
few rows, and prints both tables. It asserts no counts: those are the BLAS's, on each machine."""

from __future__ import annotations

import pytest

from bench import exactness


def test_it_prints_the_seed_model_and_the_matrix_product_tables(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(exactness, "ROWS", 60)
    monkeypatch.setattr(exactness, "BATCH_SIZES", (2, 7))
    assert exactness.main() == 0
    printed = capsys.readouterr().out
    assert "| seed's model, rows in a batch of |" in printed
    assert "| 7 | " in printed and " of 60 |" in printed
    assert "| 784 x 3 |" in printed

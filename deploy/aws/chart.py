"""`byoc metrics --plot`: an endpoint's metric series drawn into a PNG (matplotlib)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from deploy.aws.errors import UsageError


def plot_series(series: dict[str, list[tuple[datetime, float]]], path: Path, title: str) -> None:
    """One panel per metric, sharing the time axis."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise UsageError("--plot needs matplotlib (pip install matplotlib)") from None
    figure, axes = plt.subplots(len(series), 1, figsize=(9, 2.2 * len(series)), sharex=True)
    for axis, (metric, points) in zip(axes, series.items(), strict=True):
        if points:
            axis.plot([t for t, _ in points], [v for _, v in points], marker=".")
        axis.set_ylabel(metric, fontsize=8)
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=90)
    plt.close(figure)

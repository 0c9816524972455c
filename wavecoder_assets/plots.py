"""Line plots as PNG bytes, for asset metadata and model cards (radius vs k, loss curves)."""

import io
from collections.abc import Sequence


def line_plot_png(values: Sequence[float], *, xlabel: str, ylabel: str, title: str) -> bytes:
    """values[i] plotted at x = i + 1, integer ticks on x, rendered in memory (no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    ax.plot(range(1, len(values) + 1), values, marker="o" if len(values) <= 50 else None)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel=xlabel, ylabel=ylabel, title=title)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()

"""What the UI shows: markdown tables, sample rows and plots for asset metadata, one way for every stage."""

import base64

import dagster as dg
import polars as pl


def markdown_table(frame: pl.DataFrame, width: int = 160) -> str:
    """A frame as a markdown table: floats to 3 places, nulls as "–", long text cut, pipes and newlines escaped."""

    def cell(v) -> str:
        if v is None:
            return "–"
        text = f"{v:.3f}" if isinstance(v, float) else str(v)
        text = text if len(text) <= width else text[:width] + "…"
        return text.replace("|", "\\|").replace("\n", "⏎ ")

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.iter_rows()]
    return "\n".join(lines)


def table_md(frame: pl.DataFrame, width: int = 160) -> dg.MetadataValue:
    return dg.MetadataValue.md(markdown_table(frame, width))


def counts_md(frame: pl.DataFrame, by: list[str]) -> dg.MetadataValue:
    """Rows per group, e.g. per task and verdict."""
    return table_md(frame.group_by(by).len("rows").sort(by, nulls_last=True))


def samples_md(frame: pl.DataFrame, columns: list[str], n: int = 4, width: int = 140) -> dg.MetadataValue:
    """The first n rows of some columns."""
    return table_md(frame.select(columns).head(n), width)


def png_md(png: bytes, alt: str) -> dg.MetadataValue:
    """A PNG inline in the asset's metadata (the UI renders markdown images from data URLs)."""
    return dg.MetadataValue.md(f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})")

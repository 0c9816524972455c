"""The WaveCoder data pipeline (arXiv 2312.14187) as Dagster assets."""

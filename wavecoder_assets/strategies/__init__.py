"""The other instruction strategies beside WaveCoder's: Evol-Instruct (WizardCoder), OSS-Instruct (Magicoder), and
the side-by-side comparison of the three. Plain functions, no Dagster; `assets/strategies.py` wires them."""

"""Publishing stage: the facts a dataset card states (computed from the lake's tables), staging CodeOcean as a
Hugging Face Hub dataset folder, and pushing it. No Dagster here."""

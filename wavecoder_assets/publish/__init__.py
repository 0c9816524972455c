"""Publishing stage: stage CodeOcean as a Hugging Face Hub dataset folder and push it. No Dagster here."""

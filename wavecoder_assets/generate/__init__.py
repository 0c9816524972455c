"""Generation stage: WaveCoder's LLM generator-discriminator (tasks, judge, example store, loop) and CodeOcean with
decontamination. No Dagster here."""

"""Generation stage: WaveCoder's LLM generator-discriminator (tasks, judge, example store, loop), CodeOcean
with decontamination, and the Evol-Instruct / OSS-Instruct alternatives. No Dagster here."""

"""The discriminator as a resource: one declaration of its settings for every asset that judges (generated
instructions, the calibration gate, the strategies' judge), so a change in the launchpad's `discriminator`
resource reaches all of them in the same run, and the gate measures what built the data."""

import dagster as dg

from wavecoder_assets.generate.discriminator import DiscriminatorSettings


class DiscriminatorResource(dg.ConfigurableResource, DiscriminatorSettings):
    """DiscriminatorSettings, configurable per run (resources: discriminator: config: ...)."""

"""Entry-point loader: keeps every logged step of this plugin unless the user says otherwise.

TensorBoard's Python loader samples third-party tags down to 10 steps. The plugin's data is a
few JSON payloads per epoch, so it keeps them all (`--samples_per_plugin keras_relevance=0`)
unless the user passed a value for this plugin. Imported at TensorBoard start-up for every
user: no TensorFlow import here.
"""

from __future__ import annotations

from keras_relevance_tb import metadata
from tensorboard.plugins import base_plugin


class KerasRelevanceLoader(base_plugin.TBLoader):
    """Loads `KerasRelevancePlugin` and defaults its sampling to 'all steps'."""

    def fix_flags(self, flags):
        samples = getattr(flags, "samples_per_plugin", None)
        if isinstance(samples, dict):
            samples.setdefault(metadata.PLUGIN_NAME, 0)

    def load(self, context):
        from keras_relevance_tb.plugin import KerasRelevancePlugin

        return KerasRelevancePlugin(context)

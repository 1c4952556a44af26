"""The pipelines floor: the main job's stages, training, the bench, shipping and quantizer ablations, as functions
with typed inputs and outputs. Built on core, quant and export; the command-line tools call these."""

"""The bottom floor: the network, its presets and checkpoints, MATLAB-style bicubic, metrics, tiling, image files,
datasets, scoring and the record format. Nothing here imports quant, export, pipelines or a tool."""

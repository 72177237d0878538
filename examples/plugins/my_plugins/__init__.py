"""An example plugin package for the MCL worker: an encoder, a dataset and a loss it does not ship.

    "encoder": "py:my_plugins.encoders:depthwise_cnn",  "encoderArgs": {"widths": [16, 32]}
    "dataset": "py:my_plugins.data:CsvImages",          "datasetArgs": {"csv_path": "data/labels.csv", "size": 16}
    "loss": {"name": "py:my_plugins.losses:align_uniform", "args": {"weight": 1.0}}

The worker imports it by name: put examples/plugins on the worker's PYTHONPATH (or install it
into the worker's environment), and allow it yourself, outside the config: `mcl run --allow-plugins
my_plugins`, `Mcl.start(config, { allowPlugins: ["my_plugins"] })`, or my_plugins in the worker's
MCL_WORKER_PLUGINS.
"""

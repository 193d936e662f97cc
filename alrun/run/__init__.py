"""A run and its folder: building the experiment from a config, records, checkpoints, failure
safety and the terminal display."""

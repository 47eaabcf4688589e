"""The core predict path and the rules every adapter shares: Predictor, codec, errors, config,
repository, admission, metrics. Imports no adapter and no process module."""

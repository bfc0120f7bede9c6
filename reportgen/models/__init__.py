"""Models: reference architectures, training, checkpoints and the one model adapter."""

"""Models: plain ``torch.nn`` classifiers (no Lightning here)."""

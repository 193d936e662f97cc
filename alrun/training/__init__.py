"""Training and inference: how each round's model is fitted and evaluated."""

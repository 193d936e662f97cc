"""The active-learning core: pool state, the Strategy (deeplay's API), querying and the loop."""

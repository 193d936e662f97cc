"""The composed config: value checks that run before anything heavy is imported, and the
instantiation of config groups with one-line errors."""

"""rest package."""

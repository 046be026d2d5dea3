"""National services (identity, records, prescription, messaging, …) built on the repository."""

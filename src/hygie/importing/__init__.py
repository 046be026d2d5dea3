"""The parts of `hygie import`: file discovery and NDJSON batches (`sources`), NDJSON batch
loading (`ndjson`), Bundle files (`bundles`) and the report (`report`). The entry point is
`hygie.importer.run_import`."""

"""Pure functions from the spec to configuration files: no I/O, golden-file tested."""

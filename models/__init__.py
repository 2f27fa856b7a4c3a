"""Model files, their manifest (SHA-256, source, licence) and the adapters that load them."""

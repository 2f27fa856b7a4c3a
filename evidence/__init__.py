"""Evidence Pipeline application layer: settings, database, file store, media I/O, services, CLI."""

__version__ = "0.1.0"

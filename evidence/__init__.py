"""Evidence Pipeline application layer: settings, database, file store, media I/O and the services
the API, the workers and the command line are built on (it imports none of them)."""

__version__ = "0.1.0"
SOFTWARE = f"evidence-pipeline {__version__}"  # what every provenance record names as its maker

"""HTTP API (FastAPI). ``create_app`` builds it from Settings; routes grow with issue 4."""

"""Job adapters: thin module-level functions taking JSON-safe ids (RQ arrives with issue 3)."""

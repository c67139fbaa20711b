"""Hot store, query layer and metadata."""

"""Provider integrations: each module is a thin wrapper plus pure converters from provider data to span fields."""

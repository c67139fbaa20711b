"""Data files shipped inside the package (price table)."""

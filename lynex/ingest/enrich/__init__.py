"""Pure enrichment functions: cost, token estimates, error classes, text limits."""

"""Reproducible experiments built on the trainer (`phyll experiment NAME`)."""

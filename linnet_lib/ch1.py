"""Chapter 1 experiments (filled below)."""

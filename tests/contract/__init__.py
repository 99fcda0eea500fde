"""The device contract suite: every point of docs/protocol.md against every device (README.md)."""

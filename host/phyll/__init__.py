"""phyll: train physical neural networks in situ with PhyLL (physical local learning)."""
__version__ = "0.1.0"

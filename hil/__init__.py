"""Hardware-in-the-loop suite: rig descriptions (rigs/), the pytest plugin, the checks."""

"""The mixture engine: the EM driver and what every family shares."""

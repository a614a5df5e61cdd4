"""gateway: the public edge where owners and providers reach us."""

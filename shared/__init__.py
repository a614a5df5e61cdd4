"""Code the three services share: config, topology, schemas, logging, auth."""

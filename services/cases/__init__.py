"""cases: owners, arrears, collection cases, and what happened to each."""

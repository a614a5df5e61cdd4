"""The managers' dashboard: a web page served by cases, its data, and the emailed reports."""

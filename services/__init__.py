"""The three services: cases, notifier, gateway."""

"""notifier: sends SMS, email and letters, never twice and never against the rules."""

import services.notifier.templates.overrides  # noqa: F401  (its table joins the notifier's metadata)
from services.notifier.tables import metadata
from shared.migrations import run_env

run_env(metadata)

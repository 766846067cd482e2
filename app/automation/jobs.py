"""Names of workflow jobs queued before the jobs moved to ``app.jobs``: RQ stores a job's function
by its dotted path, and a wait or retry may be scheduled days ahead, so those jobs still find their
functions here. New jobs name ``app.jobs`` directly."""
from ..jobs import deliver_webhook, execute_run  # noqa: F401

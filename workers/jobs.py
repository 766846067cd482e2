"""Names of jobs queued before the jobs moved to ``app.jobs``: RQ stores a job's function by its
dotted path, so a job queued by an older release still finds its function here."""
from app.jobs import drain_partition, publish_profile, retire_version  # noqa: F401

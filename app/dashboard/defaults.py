"""Dashboard tunables, each with its unit."""
from __future__ import annotations

#: A dashboard session ends this long after sign-in, in seconds (12 hours).
SESSION_MAX_AGE_SECONDS = 12 * 3600
#: Failed sign-ins one client address may make per window before it must wait (429).
SIGNIN_FAILURES_MAX = 10
SIGNIN_WINDOW_SECONDS = 60
#: After the right password, the second factor's code must be given within this many seconds (5 minutes).
CODE_STEP_SECONDS = 300
#: Rows per page of the contacts table, the ledger and the run, delivery and inbox lists.
PAGE_SIZE = 50
#: Blank rule and band rows the profile editor offers below the filled ones.
BLANK_RULE_ROWS = 1
BLANK_BAND_ROWS = 1
#: DND channels always offered on the contact page (others the contact has are shown too).
DND_CHANNELS = ("email", "sms", "call", "whatsapp")
#: How often the publish page polls the job, in milliseconds.
JOB_POLL_MS = 500

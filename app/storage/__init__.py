"""Storage: every Redis read and write, one gateway class per kind of data, each built once in
``app.services.Services``.

- ``contacts`` — contacts and identities, tags, DND fields (and the DND index beside them), provider aliases
- ``partitions`` — the ingest streams, their idempotency sets, leases and wake marks (``ingest.lua``)
- ``timelines`` — timelines, fold states, ledgers, the outbox (``read_batch.lua``, ``apply_batch.lua``)
- ``score_index`` — contacts by score per profile version, by next due expiry, by latest activity, DND per channel
- ``queries`` — contact filters run over those indexes (``filter_bucket.lua``: one bucket's answer inside Redis)
- ``profiles`` — profile documents and published versions
- ``automation`` — workflows, runs, deliveries, the inbox (``claim_run.lua``)
- ``jobs`` — the RQ queue and the status of long jobs
- ``smart_lists``, ``stats``, ``throttles`` — saved filters, counters, short-lived guards
- ``api_keys``, ``audit``, ``users`` — stored API keys (hashes, last use); the audit trail (``append_audit.lua``);
  dashboard users, invitations and per-account sign-in failures (``first_user.lua``)
- ``connection`` — building Redis clients from URLs; ``redis_tools`` — what the gateways share
- ``errors`` — ``StoreUnavailable`` / ``StoreError``: the only storage errors callers see

Nothing outside this package imports ``redis``.
"""

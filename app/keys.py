"""Every Redis key name Scorekeeper uses, in one place.

A workspace other than ``default`` has the prefix ``{KEY_PREFIX}:w:{ID}`` (app/services.py): always before
the hash tag, so every key name below, and every script's keys, stay in the slot they were in. Keys of one
contact share the hash tag ``{c:ID}`` and keys of one ingest partition share
``{p:N}``, so each multi-key atomic operation stays in one Redis Cluster slot. Global
indexes (score indexes, the contact registry, tag members, due expiries) are split into a
fixed number of buckets (a contact always lands in the same bucket of each), so no key
grows without bound or pins one cluster node; they are only ever updated idempotently.
"""
from __future__ import annotations

from dataclasses import dataclass

from .scoring.profiles import version_field


@dataclass(frozen=True)
class Keys:
    prefix: str = "sk"

    # --- ingest partitions -------------------------------------------------------------
    def stream(self, partition: int) -> str:
        """Durable queue of accepted interactions of one partition (a Redis stream)."""
        return f"{self.prefix}:{{p:{partition}}}:stream"

    def seen(self, partition: int, period: int) -> str:
        """Idempotency keys (``source:id``) accepted into the partition during one period, as the releases
        before the seen buckets wrote them (a set that expires after two periods; only read now, until then)."""
        return f"{self.prefix}:{{p:{partition}}}:seen:{period}"

    def seen_bucket(self, partition: int, period: int, bucket: int) -> str:
        """One bucket of the idempotency keys accepted into the partition during one period, each remembered
        as a 64-bit hash (a set of integers, kept in Redis's compact intset encoding; ``partitions.seen_entry``);
        it expires after two periods, and the timeline keeps deduplicating after that."""
        return f"{self.prefix}:{{p:{partition}}}:seen:{period}:{bucket}"

    def lease(self, partition: int) -> str:
        """Which worker drains the partition right now (string with expiry)."""
        return f"{self.prefix}:{{p:{partition}}}:lease"

    def archive_backlog(self, partition: int) -> str:
        """Records of the partition scored while the archive was unavailable, waiting for it: JSON
        ``[contact_id, record]`` items, oldest first (a list; app/storage/archive_backlog.py)."""
        return f"{self.prefix}:{{p:{partition}}}:archive-backlog"

    def wake(self, partition: int) -> str:
        """Set while a drain job for the partition is queued (string with expiry)."""
        return f"{self.prefix}:{{p:{partition}}}:wake"

    # --- contacts ----------------------------------------------------------------------
    def contact(self, contact_id: str) -> str:
        """The contact's hash: its document (email as ``e``, external_id, name, company, creation time as ``c``,
        attributes, ``dnd:CHANNEL``; ``email`` and ``created_at`` of releases before read too: ``contacts.email_of``,
        ``registry.created_of``) and its fold states per ``PROFILE@VERSION`` plus ``_rev``, the optimistic-lock counter;
        a state longer than 64 B in pieces ``PROFILE@VERSION``, ``PROFILE@VERSION#1``... (``storage.timelines``:
        ``is_state_field`` tells them apart, ``join_states`` joins the pieces); and ``la``, the exact time (ms) of its
        latest interaction, which the activity index holds at its hour (``storage/activity.py``); and its timeline
        records, each under ``~`` and its ``source:id`` with ``%`` written ``%25`` and ``@`` written ``%40``
        (``storage.timelines.record_field``: ``~`` starts no other field, and the field holds no ``@``, so neither
        this release nor one before takes it for a fold state or a document field), while the field and the record
        are each within 64 B and the hash has fewer than 100 fields (``place_records``); the others stay in
        ``timeline``, and the field ``~`` alone (an empty id) marks that they do. One key, not three: a key costs
        ~130 B of Redis before its content (docs/performance.md, row 5a; "Row 5a (2026-12-04 night)")."""
        head, tail = self.contact_parts()
        return f"{head}{contact_id}{tail}"

    def contact_parts(self) -> tuple[str, str]:
        """``contact``'s name before and after the contact id: the scripts that reach a contact's hash by an id they
        were given (a key they cannot declare: one Redis only) make its name from them; on one Redis the drain's
        (``read_batch.lua``, ``apply_batch.lua``) make each of a contact's names so, from its id and the ``*_parts``
        of each (packing a key name as an argument cost the worker ~1,600 instructions: docs/performance.md, row 1)."""
        return f"{self.prefix}:{{c:", "}"

    def tags(self, contact_id: str) -> str:
        return f"{self.prefix}:{{c:{contact_id}}}:tags"

    def timeline(self, contact_id: str) -> str:
        """The contact's interactions and manual changes that do not fit in its hash (``contact``: a field or a
        record over 64 B, or past the hash's room), ``source:id`` -> record JSON (``records.encode_record``) (hash);
        releases before kept every record here, until ``app/contact_layout.py:timelines_once`` moved them. Every
        reader reads both; the drain, once the move is recorded, only when the contact's hash holds the marker."""
        head, tail = self.timeline_parts()
        return f"{head}{contact_id}{tail}"

    def timeline_parts(self) -> tuple[str, str]:
        """``timeline``'s name before and after the contact id (``contact_parts``: the drain's scripts)."""
        return f"{self.prefix}:{{c:", "}:timeline"

    def states_before(self, contact_id: str) -> str:
        """The contact's fold states and ``_rev`` as releases before kept them, in a hash of their own: while it
        exists it holds them (every reader and writer looks here first), until ``app/contact_layout.py`` moves
        them into the contact's hash (``contact``); nothing creates it now."""
        head, tail = self.states_before_parts()
        return f"{head}{contact_id}{tail}"

    def states_before_parts(self) -> tuple[str, str]:
        """``states_before``'s name before and after the contact id (``contact_parts``: the drain's scripts)."""
        return f"{self.prefix}:{{c:", "}:states"

    def horizon(self, contact_id: str) -> str:
        """Set once the contact's history older than the hot horizon left Redis (docs/archive.md): ``c`` the
        horizon (ms; every record before it is in the archive), ``a`` the contact's attributes at it (JSON), and
        per ``PROFILE@VERSION`` the fold state at it, the checkpoint (JSON) (hash)."""
        head, tail = self.horizon_parts()
        return f"{head}{contact_id}{tail}"

    def score_pending(self, contact_id: str) -> str:
        """On a cluster, while the score index write of the contact's last scored batch may not have been made:
        ``REV|TEXT``, the ``_rev`` that batch wrote and the scores the index may still hold the contact at
        (``storage/score_base.py``: ``pending_text``); set by ``apply_batch.lua`` with the states, deleted once the
        index write was made (string; absent: nothing pending, and always on one Redis, where the index is written
        with the states)."""
        return f"{self.prefix}:{{c:{contact_id}}}:si"

    def horizon_parts(self) -> tuple[str, str]:
        """``horizon``'s name before and after the contact id (``contact_parts``: the drain's scripts)."""
        return f"{self.prefix}:{{c:", "}:horizon"

    def ledger(self, contact_id: str, profile_id: str, version: int) -> str:
        """Explained score changes, newest first (list), as earlier releases stored them: nothing writes one now
        (the ledger is the fold of the timeline, app/ledger_history.py); read until the contact is scored again."""
        head, middle = self.ledger_parts()
        return f"{head}{contact_id}{middle}{version_field(profile_id, version)}"

    def ledger_parts(self) -> tuple[str, str]:
        """``ledger``'s name before and after the contact id, the ``PROFILE@VERSION`` after that (``contact_parts``:
        ``apply_batch.lua``)."""
        return f"{self.prefix}:{{c:", "}:ledger:"

    def outbox(self, contact_id: str) -> str:
        """Score changes and interactions waiting for the workflow matcher (list)."""
        head, tail = self.outbox_parts()
        return f"{head}{contact_id}{tail}"

    def outbox_parts(self) -> tuple[str, str]:
        """``outbox``'s name before and after the contact id (``contact_parts``: the drain's scripts)."""
        return f"{self.prefix}:{{c:", "}:outbox"

    def identity(self, kind: str, value: str) -> str:
        """``email`` or ``ext`` identity -> contact id (string)."""
        return f"{self.prefix}:id:{kind}:{value}"

    def contacts(self, bucket: int) -> str:
        """The bucket's contact ids by creation time in seconds, as releases before kept the registry (sorted set):
        read until ``app/indexes.py:registry_once`` recorded its copy into ``registry_index``, then emptied."""
        return f"{self.prefix}:contacts:{bucket}"

    def registry(self, bucket: int) -> str:
        """The bucket's contacts not yet in ``registry_index``: contact id by its creation time in ms (sorted set).
        Writers that cannot run the index's library (ingest's recorded writes) put a new contact here; whoever reads
        or indexes next moves it in at its ``created_at`` (``storage/registry.py``). Under the index's hash tag."""
        return f"{self.prefix}:{{rg:{bucket}}}"

    def registry_index(self, bucket: int) -> str:
        """The base name of the bucket's contact registry in a compact ordered index (``storage/ordered_index.lua``):
        each contact id scored by its contact hash's ``created_at`` (ms), under its hash tag."""
        return f"{self.prefix}:{{rg:{bucket}}}:i"

    def activity(self, bucket: int) -> str:
        """The bucket's contact ids by the time of their latest interaction, in ms, as releases before the compact
        ordered index wrote them (sorted set; only moves forward; read beside ``activity_index``, and emptied into it
        by ``app/indexes.py:activity_once`` and by each contact's next activity)."""
        head, tail = self.activity_parts()
        return f"{head}{bucket}{tail}"

    def activity_parts(self) -> tuple[str, str]:
        """``activity``'s name before and after the bucket: ``apply_batch.lua`` makes a bucket's name from them."""
        return f"{self.prefix}:activity:", ""

    def activity_index(self, bucket: int) -> str:
        """The base name of the bucket's contact ids by the *granule* (an hour, ``storage/activity.py:GRANULE_MS``) of
        the time of their latest interaction, in ms (only moves forward): a compact ordered index
        (``storage/ordered_index.lua``), under its hash tag; each contact's exact time is its hash's ``la`` field,
        against which readers check the granules a range cuts."""
        head, tail = self.activity_index_parts()
        return f"{head}{bucket}{tail}"

    def activity_index_parts(self) -> tuple[str, str]:
        """``activity_index``'s name before and after the bucket: ``apply_batch.lua`` makes a bucket's name from
        them."""
        return f"{self.prefix}:{{ac:", "}"

    def search(self, bucket: int) -> str:
        """The bucket's search terms not yet moved into ``search_index``: ``lowercased email, name or external id +
        NUL + contact id`` (no id where the text derives it: ``contacts.search_member``), all at score 0, so a prefix
        is a lexicographic range (sorted set). Ingest writes new contacts' terms here (its one-trip script runs plain
        recorded writes, not the index's library); the drain's index writes move them in. Under the index's hash
        tag, so one script reads or moves both."""
        return f"{self.prefix}:{{se:{bucket}}}"

    def search_index(self, bucket: int) -> str:
        """The base name of the bucket's search terms (as ``search``) in a compact ordered index
        (``storage/ordered_index.lua``: ``BASE:d``, ``BASE:n``, ``BASE:l:ID``), under its hash tag."""
        return f"{self.prefix}:{{se:{bucket}}}:i"

    def search_before(self, bucket: int) -> str:
        """The bucket's search terms as releases before wrote them (sorted set, as ``search``): read beside the
        index, and emptied into it by ``app/indexes.py:search_once``."""
        return f"{self.prefix}:search:{bucket}"

    def alias(self, kind: str, value: str) -> str:
        """A provider's own customer id (``stripe``: ``cus_...``) -> contact email (string)."""
        return f"{self.prefix}:alias:{kind}:{value}"

    def tag_members(self, tag: str, bucket: int) -> str:
        """The bucket's contacts carrying a tag (set)."""
        return f"{self.prefix}:tag:{tag}:{bucket}"

    def dnd(self, channel: str, bucket: int) -> str:
        """The bucket's contacts with do-not-disturb on for a channel (set; kept beside the contact
        document's ``dnd:CHANNEL`` fields)."""
        return f"{self.prefix}:dnd:{channel}:{bucket}"

    # --- profiles and scores -----------------------------------------------------------
    def profiles(self) -> str:
        """Profile id -> profile document JSON: draft, live and building versions (hash)."""
        return f"{self.prefix}:profiles"

    def profile_version(self, profile_id: str, version: int) -> str:
        """The rules of one published version (string JSON)."""
        return f"{self.prefix}:profile:{version_field(profile_id, version)}"

    def profile_versions(self, profile_id: str) -> str:
        """Version number -> who published it, when, how, and its publish summary (hash of JSON)."""
        return f"{self.prefix}:profile-versions:{profile_id}"

    def deleted_profiles(self) -> str:
        """Deleted profile id -> the last version number it used, so a profile created again under its id numbers
        its versions after it (hash; ``storage/profiles.py``)."""
        return f"{self.prefix}:deleted-profiles"

    def interaction_vocabulary(self) -> str:
        """``<type> <property>`` pairs seen in scored interactions, for the rule builder (set)."""
        return f"{self.prefix}:vocabulary"

    def score_index(self, profile_id: str, version: int, bucket: int) -> str:
        """The bucket's contact ids by score for one profile version (sorted set)."""
        return f"{self.prefix}:scores:{version_field(profile_id, version)}:{bucket}"  # (score_indexes, then ':')

    def score_indexes(self) -> str:
        """What every score index's key starts with, then ``:`` (``score_index``, which writes it out: it is made
        for every bucket of a page)."""
        return f"{self.prefix}:scores"

    def score_base(self, profile_id: str, version: int, bucket: int) -> str:
        """The base name of the bucket's contacts at rest by score for one profile version: a compact ordered index
        (``storage/score_base.py``), its hash tag the name of ``score_index`` (which has none), so the three keys of
        a bucket share one slot."""
        return self.score_base_of(self.score_index(profile_id, version, bucket))

    def score_stale(self, profile_id: str, version: int, bucket: int) -> str:
        """The dead entries of ``score_base``: contact id by the score the base holds it at (sorted set)."""
        return self.score_stale_of(self.score_index(profile_id, version, bucket))

    def score_base_of(self, hot: str) -> str:
        """``score_base`` of the bucket whose ``score_index`` is ``hot``."""
        return f"{self.prefix}:{{{hot}}}:base"

    def score_stale_of(self, hot: str) -> str:
        """``score_stale`` of the bucket whose ``score_index`` is ``hot``."""
        return f"{self.prefix}:{{{hot}}}:stale"

    def score_absorb_due(self) -> str:
        """When the ticker's next absorb of the score index into its base is due, ms (string; absent: now)."""
        return f"{self.prefix}:score-absorb-due"

    def score_absorb_steps(self) -> str:
        """The steps left to the ticker's running absorb pass (integer string; absent: the next step starts a pass
        and counts them, ``storage/score_index.py: absorb_step``)."""
        return f"{self.prefix}:score-absorb-steps"

    def expiries(self, bucket: int) -> str:
        """The bucket's contact ids by the time of their next due expiry, in ms, as releases before the compact
        ordered index wrote them (sorted set; read, and emptied by ``app/indexes.py:expiries_once``)."""
        return f"{self.prefix}:expiries:{bucket}"

    def expiry_index(self, bucket: int) -> str:
        """The base name of the bucket's contact ids by the time of their next due expiry, in ms: a compact
        ordered index (``storage/ordered_index.lua``: ``BASE:d``, ``BASE:n``, ``BASE:l:ID``), under its hash tag."""
        return f"{self.prefix}:{{xp:{bucket}}}"

    def profile_seq(self) -> str:
        return f"{self.prefix}:profile-seq"

    # --- companies (app/storage/companies.py) --------------------------------------------
    # A company's keys share the hash tag of its bucket, ``{co:B}``, with that bucket's registry and
    # company-score indexes: one script moves a contact's contribution and the company's score at once.
    def companies(self, bucket: int) -> str:
        """The bucket's company ids, by when the first contact joined, in ms (sorted set)."""
        return f"{self.prefix}:{{co:{bucket}}}:companies"

    def company_roster(self, company: str, bucket: int) -> str:
        """Every contact of the company at its *contact* bucket + 1, so a contact bucket's share is one score range
        and, within it, by id; releases before wrote every contact at 0 (sorted set; ``bucket`` is the company's;
        app/storage/companies.py). Also the base name of the compact ordered index a big company's roster moves
        into (``roster.lua``: ``BASE:d``, ``BASE:n``, ``BASE:l:ID``)."""
        return f"{self.prefix}:{{co:{bucket}}}:company:{company}:contacts"

    def roster_joins(self, bucket: int) -> str:
        """The bucket's companies a contact joined by a plain write since the ticker last looked (set): their
        rosters may have grown past the plain set's size (app/storage/companies.py, ``tidy``)."""
        return f"{self.prefix}:{{co:{bucket}}}:roster-joins"

    def company_contributions(self, company: str, bucket: int, profile_id: str, version: int) -> str:
        """The company's contacts by their score in one rolled-up profile version (sorted set)."""
        return f"{self.prefix}:{{co:{bucket}}}:company:{company}:scores:{version_field(profile_id, version)}"

    def company_sums(self, profile_id: str, version: int, bucket: int) -> str:
        """Company id -> the sum of its contacts' scores in one rolled-up profile version (hash)."""
        return f"{self.prefix}:{{co:{bucket}}}:company-sums:{version_field(profile_id, version)}"

    def company_index(self, profile_id: str, version: int, bucket: int) -> str:
        """The bucket's companies by their rolled-up score in one profile version (sorted set)."""
        return f"{self.prefix}:{{co:{bucket}}}:company-scores:{version_field(profile_id, version)}"

    def company_members(self, company: str, bucket: int) -> str:
        """The company's contacts of one *contact* bucket (set): written by releases before only; the filters read
        the roster's range instead, and ``app/indexes.py:rosters_once`` deletes these."""
        return f"{self.prefix}:company:{company}:members:{bucket}"

    # --- jobs and smart lists ----------------------------------------------------------
    def job(self, job_id: str) -> str:
        """Status and progress of a long job such as a publish (hash)."""
        return f"{self.prefix}:job:{job_id}"

    def evaluation(self, job_id: str) -> str:
        """One evaluation: its request, the definitions it judges, and its reports once done (string, JSON)."""
        return f"{self.prefix}:evaluation:{job_id}"

    def evaluations(self, profile_id: str) -> str:
        """A profile's most recent evaluation job ids, newest first (list, trimmed)."""
        return f"{self.prefix}:evaluations:{profile_id}"

    def grades(self) -> str:
        """Grade id -> its definition JSON: a fit and an engagement profile (hash)."""
        return f"{self.prefix}:grades"

    def smart_lists(self) -> str:
        """Smart list id -> saved filter JSON (hash)."""
        return f"{self.prefix}:smart-lists"

    def migrations(self) -> str:
        """Data migrations that finished: name -> when, in ms (hash)."""
        return f"{self.prefix}:migrations"

    def processes(self) -> str:
        """The ids of the processes that announced themselves (a set; an id whose ``process`` key lapsed is a
        process gone, dropped by the next read: app/storage/processes.py). Deployment-wide: the default workspace's
        prefix only. One hash tag with ``process``, so a cluster reads them in one slot."""
        return f"{self.prefix}:{{processes}}"

    def process(self, process_id: str) -> str:
        """A live process's announcement: its role, host, pid, release and the layout migrations it knows (JSON,
        a string with expiry ``PROCESS_TTL_SECONDS``, renewed every third of it; app/processes.py)."""
        return f"{self.processes()}:{process_id}"

    def ticker(self) -> str:
        """Held by the worker that runs the periodic tick (string with expiry)."""
        return f"{self.prefix}:ticker"

    def horizon_pass(self) -> str:
        """Where the hot horizon's trim pass over every contact stands: ``bucket``, ``start`` (the next
        contact's rank in the bucket) and ``started_at`` (ms) of the pass (hash; app/horizon.py)."""
        return f"{self.prefix}:horizon-pass"

    def horizon_oldest(self) -> str:
        """How old a record each bucket of contacts may hold, so that the trim pass reads no bucket with nothing
        older than the horizon (sorted set, scores in ms; app/horizon.py, ``TimelineStore``): member ``B`` (a
        bucket) at most the oldest ``at`` of the records its contacts' timelines hold (lowered by each scored
        batch; absent: none), ``taken:B`` and ``kept:B`` a walk of the bucket's, ``pass`` when the pass walking
        from the first bucket began, ``all`` when the members cover every record stored (such a pass ended; a
        store empty when they began)."""
        return f"{self.prefix}:horizon-oldest"

    def archive_backfill(self) -> str:
        """Where the archive backfill's walk over every contact stands: ``bucket``, ``score`` and ``id`` of the last
        contact visited, counts, ``started_at``/``finished_at`` (ms) (hash; app/archive_backfill.py)."""
        return f"{self.prefix}:archive-backfill"

    def retention_sweep(self) -> str:
        """Set (with expiry) by the worker that ran the last retention sweep: one sweep per period (string)."""
        return f"{self.prefix}:retention-sweep"

    def stats(self) -> str:
        """Counters for health and metrics (hash)."""
        return f"{self.prefix}:stats"

    def stats_custom_types(self) -> str:
        """The ``custom.*`` interaction types counted under their own name, at most a fixed number (set)."""
        return f"{self.prefix}:stats-custom-types"

    # --- workflows (owned by app/automation) ---------------------------------------------
    def workflows(self) -> str:
        """Workflow id -> stored workflow document JSON: config, source, updated_at (hash).

        Shares the ``{wf}`` hash tag with ``workflows_rev`` so both change in one transaction."""
        return f"{self.prefix}:{{wf}}:workflows"

    def workflows_rev(self) -> str:
        """Bumped on every workflow change, so each process recompiles its trigger index (counter)."""
        return f"{self.prefix}:{{wf}}:rev"

    def workflow_entered(self, contact_id: str) -> str:
        """Workflow ids the contact has run, for ``reentry: false`` (set)."""
        return f"{self.prefix}:{{c:{contact_id}}}:wf-entered"

    def run_claim(self, contact_id: str, run_id: str) -> str:
        """Present once a firing claimed its run id: duplicates of the change start nothing (string)."""
        return f"{self.prefix}:{{c:{contact_id}}}:wf-run:{run_id}"

    def run(self, run_id: str) -> str:
        """One workflow run: trigger snapshot, steps and their status (string JSON)."""
        return f"{self.prefix}:run:{run_id}"

    def workflow_runs(self, workflow_id: str) -> str:
        """Run ids of a workflow by creation time in ms (sorted set)."""
        return f"{self.prefix}:workflow-runs:{workflow_id}"

    def delivery(self, delivery_id: str) -> str:
        """One webhook delivery: request, attempts, status (string JSON)."""
        return f"{self.prefix}:delivery:{delivery_id}"

    def deliveries(self) -> str:
        """Delivery ids by creation time in ms (sorted set)."""
        return f"{self.prefix}:deliveries"

    def deliveries_awaiting(self) -> str:
        """Deliveries whose first attempt their run job makes, by creation time in ms, until it is made (sorted set;
        what is left there long after, by a run job that died, the ticker queues: app/automation/deliveries.py)."""
        return f"{self.prefix}:deliveries-awaiting"

    def dead_letters(self) -> str:
        """Dead-lettered delivery ids by the time they gave up, in ms (sorted set)."""
        return f"{self.prefix}:dead-letters"

    def disabled_endpoints(self) -> str:
        """Webhook URL -> why and when it was disabled (a 410), JSON (hash)."""
        return f"{self.prefix}:disabled-endpoints"

    def notifications(self) -> str:
        """In-app inbox notifications, newest first (list of JSON)."""
        return f"{self.prefix}:notifications"

    def notifications_unread(self) -> str:
        """How many inbox notifications nobody has marked as read (counter)."""
        return f"{self.prefix}:notifications-unread"

    def notifications_read_before(self) -> str:
        """Notifications at or before this time (ms) are read: set by "mark all read" (string)."""
        return f"{self.prefix}:notifications-read-before"

    def notifications_read(self) -> str:
        """Ids of notifications marked read one by one since the last "mark all read" (set)."""
        return f"{self.prefix}:notifications-read"

    # --- people: API keys, users, the audit trail (owned by app/access.py) -----------------
    def api_keys(self) -> str:
        """(Shares the ``{ak}`` hash tag with ``api_keys_used``: a revoke removes both at once.)
        Stored API key id -> its document: name, scopes, workspace, SHA-256 of the key, created (hash of JSON)."""
        return f"{self.prefix}:{{ak}}:api-keys"

    def api_keys_used(self) -> str:
        """Stored API key id -> when it was last used, in ms (hash; written at most once a minute per key
        and process)."""
        return f"{self.prefix}:{{ak}}:api-keys-used"

    def audit(self) -> str:
        """The audit trail: who did what to which target, one entry per action, ids by time (stream;
        trimmed by the retention sweep)."""
        return f"{self.prefix}:audit"

    def users(self) -> str:
        """Dashboard users: lowercased email -> role, password hash (scrypt), created (hash of JSON)."""
        return f"{self.prefix}:users"

    def invite(self, token_hash: str) -> str:
        """A pending invitation by the SHA-256 of its one-time token: email, role, who invited (string JSON
        with expiry; taken with GETDEL, so a link works once)."""
        return f"{self.prefix}:invite:{token_hash}"

    def session_secret(self) -> str:
        """The dashboard's session secret when neither SECRET_KEY nor API_KEYS gives one (string, random, set once)."""
        return f"{self.prefix}:session-secret"

    def signin_account_failures(self, account: str) -> str:
        """Failed dashboard sign-ins (passwords and codes) to one account (SHA-256 of the email), from every
        address, in the current hour (counter with expiry): past a limit the account is slowed, never locked."""
        return f"{self.prefix}:signin-account-failures:{account}"

    def signin_pair_failures(self, account: str, address: str) -> str:
        """Failed dashboard sign-ins to one account from one client address in the current window (counter with
        expiry): past a limit that address is refused for that account until the window ends."""
        return f"{self.prefix}:signin-pair-failures:{account}:{address}"

    def signin_slow_turn(self, account: str) -> str:
        """Held for a few seconds by the last attempt admitted to a slowed account from an untrusted device
        (string with expiry): the next waits until it lapses."""
        return f"{self.prefix}:signin-slow:{account}"

    def totp_step(self, account: str) -> str:
        """The last TOTP step accepted for the account (string with expiry): a code of that step or an earlier
        one is refused, so a code works once."""
        return f"{self.prefix}:totp-step:{account}"

    def totp_recovery(self, account: str) -> str:
        """SHA-256 of each unused recovery code of the account (set; a code is removed, atomically, by its use)."""
        return f"{self.prefix}:totp-recovery:{account}"

    def provider_secrets(self) -> str:
        """Provider name -> its webhook secret set with ``PUT /v1/providers/{provider}`` (Fernet-encrypted when
        ``SECRETS_KEY`` is set), when and by whom (hash of JSON; read by ``app.hooks.secrets.provider_secret``)."""
        return f"{self.prefix}:provider-secrets"

    def workspaces(self) -> str:
        """The workspaces registry: id -> name, status (``active`` or ``deleting``), created (hash of JSON).
        Instance-wide: read only through the default workspace's keys."""
        return f"{self.prefix}:workspaces"

    # --- dashboard ----------------------------------------------------------------------
    def form_sent(self, token: str) -> str:
        """A dashboard form that must act once (making an API key) was sent with this token: a reload that
        sends it again makes nothing (string with expiry)."""
        return f"{self.prefix}:form-sent:{token}"

    def signin_failures(self, address: str) -> str:
        """Failed dashboard sign-ins from one client address in the current window (counter with expiry)."""
        return f"{self.prefix}:signin-failures:{address}"

    # --- provider webhooks (owned by app/hooks) -------------------------------------------
    def webhook_token(self, provider: str, token: str) -> str:
        """A one-time signature token already used (Mailgun): refused if seen again (string with expiry)."""
        return f"{self.prefix}:hook-token:{provider}:{token}"

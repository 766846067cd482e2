"""The ``scorekeeper`` command: the worker, imports, recompute, workflow files, backup and restore.

Human output goes to stdout; logs go to stderr, at WARNING unless ``-v`` (the worker, a service, logs at
``LOG_LEVEL``). A command that touches Redis first says which one (never its password). A bad input is named
by its file and line.
"""
from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import orjson
from flask import Flask

#: How each command's logs are filtered by default, and with -v / -vv.
LOG_LEVELS = ("WARNING", "INFO", "DEBUG")


def build_app(ctx: click.Context, where_to_stderr: bool = False) -> Flask:
    """The app, built once per command, with the CLI's log level; it says which Redis it talks to (on stderr for
    a command whose stdout is a document: ``status --json``)."""
    from . import create_app
    from .storage.connection import describe_url

    verbosity = ctx.find_root().params.get("verbose", 0)
    app = create_app({"LOG_LEVEL": LOG_LEVELS[min(verbosity, 2)]})
    queue_url = app.config["REDIS_URL"]
    store_url = app.config.get("STORE_URL") or queue_url
    where = describe_url(store_url) if store_url == queue_url else \
        f"{describe_url(store_url)} (store), {describe_url(queue_url)} (queue)"
    workspace = ctx.find_root().params.get("workspace") or "default"
    if workspace != "default":
        from .errors import NotFound
        from .services import enter_workspace
        from .workspaces import require

        with app.app_context():
            try:
                require(app.extensions["scorekeeper"], workspace)
            except NotFound as exc:
                raise click.ClickException(exc.message) from exc
        ctx.find_root().call_on_close(enter_workspace(workspace))  # the command acts in it, until it ends
    in_workspace = "" if workspace == "default" else f", workspace {workspace!r}"
    click.echo(f"Redis: {where}, key prefix {app.config['KEY_PREFIX']!r}{in_workspace}", err=where_to_stderr)
    return app


def announce_command(ctx: click.Context, app: Flask) -> None:
    """Announce this command as a live process of this release (``cli``, app/processes.py) until it ends: a command
    that writes data is seen by ``scorekeeper status`` and by the layout migrations' wait like a web process."""
    from .processes import start_heartbeat

    command = "scorekeeper " + ctx.command_path.partition(" ")[2]  # `archive backfill`, whatever runs it
    heartbeat = start_heartbeat(app.extensions["scorekeeper"], "cli", command=command)
    ctx.call_on_close(heartbeat.stop)


@click.group()
@click.option("-v", "--verbose", count=True,
              help="Log at INFO (-v) or DEBUG (-vv) on stderr; default WARNING.")
@click.option("-w", "--workspace", default="default", show_default=True,
              help="The workspace a command acts in (imports, recompute, backup, restore, workflow files).")
def main(verbose: int, workspace: str) -> None:
    """Scorekeeper: engagement scoring and automation."""


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run a worker: scoring batches, publish jobs, workflow runs, and the ticker (logs at LOG_LEVEL)."""
    from workers.main import main as run

    run(burst=burst)


def _json_file(path: str) -> Any:
    """A JSON document from a file; invalid JSON is a ClickException naming the file and line."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        line = text.count("\n", 0, exc.pos) + 1
        raise click.ClickException(f"{path} line {line}: not JSON: {exc.msg}") from exc


@main.command("import-profiles")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--publish", is_flag=True, help="Publish each profile after importing its draft.")
@click.pass_context
def import_profiles(ctx: click.Context, path: str, publish: bool) -> None:
    """Import profile drafts from a JSON file: a list of {"id", "name", "rules", "bands", ...}."""
    from marshmallow import ValidationError

    from .api.schemas import ProfileDraftSchema
    from .publish import start_publish
    from .services import get_services

    docs = _json_file(path)
    docs = docs if isinstance(docs, list) else [docs]
    drafts = []
    for index, doc in enumerate(docs):
        profile_id = doc.pop("id", None) if isinstance(doc, dict) else None
        try:
            drafts.append({"id": profile_id, **ProfileDraftSchema().load(doc)})
        except ValidationError as exc:
            raise click.ClickException(f"{path}: profile {profile_id or index + 1}: {exc.messages} "
                                       "(nothing was imported)") from exc
    with build_app(ctx).app_context():
        services = get_services()
        store = services.profiles
        for draft in drafts:
            store.put_draft(draft)
            click.echo(f"imported draft {draft['id']}")
            if publish:
                job = start_publish(services, draft["id"])
                click.echo(f"publishing {draft['id']}: job {job['id']}")


def numbered_lines(path: str) -> Iterator[tuple[int, str]]:
    """``(line number, text)`` of each non-blank line of a file."""
    with open(path, encoding="utf-8") as lines:
        for number, text in enumerate(lines, start=1):
            if text.strip():
                yield number, text


def parse_lines(path: str, lines: list[tuple[int, str]]) -> list[Any]:
    """Interactions of numbered JSON lines; the first bad one is a ClickException naming its line."""
    from .errors import ValidationError
    from .interaction_schema import load_items
    from .json_bodies import loads

    items = []
    for number, text in lines:
        try:
            items.append(loads(text))
        except ValidationError as exc:
            detail = getattr(exc.__cause__, "msg", None) or "; ".join(exc.errors.get("_body") or [exc.message])
            raise click.ClickException(f"{path} line {number}: not JSON: {detail}") from exc
    try:
        return load_items({"interactions": items}, len(items) or 1)
    except ValidationError as exc:
        problems = exc.errors.get("interactions") if isinstance(exc.errors, dict) else None
        if not isinstance(problems, dict) or not problems:
            raise click.ClickException(f"{path}: {exc.message}") from exc
        index, problem = min(problems.items())
        raise click.ClickException(f"{path} line {lines[index][0]}: {problem}") from exc


@main.command("import-interactions")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--batch", default=1000, show_default=True, help="Interactions per write.")
@click.pass_context
def import_interactions(ctx: click.Context, path: str, batch: int) -> None:
    """Import interactions from a JSONL file (one interaction per line), with a progress bar.

    A bad line stops the import before its batch is written, naming the line; the batches before it stay
    stored (importing the file again is harmless: repeats are recognised by their id).
    """
    from .ingest import ingest
    from .services import get_services

    lines = list(numbered_lines(path))
    accepted = duplicates = 0
    app = build_app(ctx)
    announce_command(ctx, app)
    with app.app_context():
        services = get_services()
        with click.progressbar(length=len(lines), label="importing", file=sys.stderr) as bar:
            for start in range(0, len(lines), batch):
                chunk = lines[start:start + batch]
                try:
                    result = ingest(services, parse_lines(path, chunk))
                except click.ClickException as exc:
                    stored = accepted + duplicates
                    exc.message += f" (nothing from this batch was stored; {stored} lines before were)"
                    raise
                accepted += result.accepted
                duplicates += result.duplicates
                bar.update(len(chunk))
    click.echo(f"accepted {accepted}, duplicates {duplicates}")


@main.command()
@click.pass_context
def compact(ctx: click.Context) -> None:
    """Rewrite what earlier releases stored in Redis into the compact layout, with a progress bar.

    Online: it runs while the server scores (a contact that changes meanwhile is read again). Nothing depends on
    it (every reader reads both layouts); it gives back memory. Running it again is harmless.
    """
    from .compaction import compact_all
    from .services import get_services

    app = build_app(ctx)
    announce_command(ctx, app)
    with app.app_context():
        services = get_services()
        with click.progressbar(length=services.contacts.contact_count(), label="compacting",
                               file=sys.stderr) as bar:
            counts = compact_all(services, bar.update)
    click.echo(f"contacts rewritten {counts['contacts']}: timeline records {counts['records']}, ledger entries "
               f"{counts['entries']}, fold states {counts['states']}, ledgers dropped {counts['ledgers']}")
    if counts["changed"]:
        click.echo(f"{counts['changed']} contacts kept changing while they were read: run it again")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The same as JSON (what GET /v1/processes answers).")
@click.pass_context
def status(ctx: click.Context, as_json: bool) -> None:
    """The live processes of the deployment (web, workers, commands) with their releases, and the layout
    migrations not recorded yet with the processes each waits for (docs/durability.md)."""
    from .processes import deployment_status
    from .services import get_services
    from .workspaces import every_workspace

    with build_app(ctx, where_to_stderr=as_json).app_context():
        found = deployment_status(every_workspace(get_services()))
    if as_json:
        click.echo(orjson.dumps(found, option=orjson.OPT_INDENT_2).decode())
        return
    click.echo(f"this release: {found['release']} (layout {found['layout']})")
    click.echo(f"live processes: {len(found['processes'])}")
    for process in found["processes"]:
        what = f"{process['role']} {process['command']}".strip()
        missing = f", lacks {', '.join(process['missing'])}" if process["missing"] else ""
        waiting = f", waiting for {', '.join(process['waiting_for'])}" if process["waiting_for"] else ""
        click.echo(f"  {process['id']}: {what}, pid {process['pid']} on {process['host']}, {process['release']} "
                   f"(layout {process['layout']}){missing}{waiting}")
    if not found["pending_migrations"]:
        click.echo("layout migrations: all recorded")
    for migration in found["pending_migrations"]:
        waits = ", ".join(migration["waits_for"]) or "no live process (a worker's start runs it)"
        click.echo(f"layout migration {migration['name']}: not recorded; waits for {waits}")


@main.group("archive")
def archive_group() -> None:
    """The archive of every interaction (docs/archive.md)."""


@archive_group.command("backfill")
@click.option("--all-workspaces", is_flag=True, help="Every workspace in turn, not only --workspace.")
@click.option("--again", is_flag=True, help="Walk every contact again even if a walk already finished.")
@click.pass_context
def archive_backfill(ctx: click.Context, all_workspaces: bool, again: bool) -> None:
    """Copy the history that only Redis holds (written before the archive existed) into the archive, with a
    progress bar, so that the hot horizon can move it out of Redis.

    Online and idempotent: it runs while the server scores, resumes where a stopped run left off, and a record
    the archive holds already is not written again. Workers do the same walk on their own, a page per tick.
    """
    from .services import get_services
    from .workspaces import every_workspace

    app = build_app(ctx)
    announce_command(ctx, app)
    with app.app_context():
        services = get_services()
        try:
            _backfill_each(every_workspace(services) if all_workspaces else [services], again)
        finally:
            services.archive.close()  # every workspace shares it


@archive_group.command("status")
@click.pass_context
def archive_status(ctx: click.Context) -> None:
    """Where the archive backfill stands in each workspace (the workers' walk or the command's)."""
    from .scoring.interactions import format_timestamp
    from .services import get_services
    from .workspaces import every_workspace

    with build_app(ctx).app_context():
        for workspace in every_workspace(get_services()):
            position = workspace.archive_backfill.position()
            counts = position.counts or {}
            done = f"records appended {counts.get('records', 0)}, already archived {counts.get('held', 0)}" + (
                f", copies lacking properties left out {counts['short']}" if counts.get("short") else "")
            if position.finished_at is not None:
                click.echo(f"{workspace.workspace}: finished {format_timestamp(position.finished_at)} ({done})")
                continue
            total = workspace.contacts.contact_count()
            passed = min(workspace.archive_backfill.contacts_before(position, workspace.sharding.buckets), total)
            state = "not started" if position.started_at is None else f"{passed} of {total} contacts passed"
            click.echo(f"{workspace.workspace}: {state} ({done})")


def _backfill_each(workspaces: list[Any], again: bool) -> None:
    """``archive backfill`` in each of these workspaces' services, one after the other."""
    from .archive import ArchiveUnavailable
    from .archive_backfill import backfill

    for workspace in workspaces:
        walk = workspace.archive_backfill
        if again:
            walk.restart()
        position = walk.position()
        if position.finished_at is not None:
            click.echo(f"{workspace.workspace}: already done (--again walks every contact again)")
            continue
        total = workspace.contacts.contact_count()
        done = min(walk.contacts_before(position, workspace.sharding.buckets), total)
        with click.progressbar(length=total, label=f"archiving {workspace.workspace}", file=sys.stderr) as bar:
            bar.update(done)
            try:
                counts = backfill(workspace, bar.update)
            except ArchiveUnavailable as exc:
                raise click.ClickException(f"{exc.message} (run it again: it resumes where it stopped)") from exc
        click.echo(f"{workspace.workspace}: contacts {counts['contacts']}, records appended {counts['records']}, "
                   f"already archived {counts['held']}")
        if counts["short"]:
            click.echo(f"{workspace.workspace}: {counts['short']} copies in Redis lack properties and are not in this "
                       f"archive: their whole records are in the archive they were trimmed after (docs/archive.md, "
                       f"'Backfill: history from before the archive'); copy its rows in, then run this again with --again", err=True)


@main.command()
@click.argument("profile_id")
@click.pass_context
def recompute(ctx: click.Context, profile_id: str) -> None:
    """Re-publish a profile's draft and follow the recompute with a progress bar (needs a worker)."""
    import time

    from .publish import get_job, start_publish
    from .services import get_services

    with build_app(ctx).app_context():
        services = get_services()
        job = start_publish(services, profile_id)
        with click.progressbar(length=1000, label=f"recomputing {profile_id}", file=sys.stderr) as bar:
            done = 0
            while job["status"] not in ("finished", "failed"):
                time.sleep(0.2)
                job = get_job(services, job["id"])
                step = int(job["progress"] * 1000) - done
                bar.update(step)
                done += step
        if job["status"] == "failed":
            raise click.ClickException(job["error"] or "failed")
    click.echo(f"{profile_id}: version {job['version']} is live")


# --- workflow files ----------------------------------------------------------------------------------
def _workflow_files(paths: tuple[str, ...]) -> list[str]:
    from .automation.workflows import IGNORED_SUFFIX, workflow_files

    found = paths or tuple(str(p) for p in workflow_files(Path("workflows")))
    return [str(p) for p in found if not str(p).endswith(IGNORED_SUFFIX)]


def _validate(paths: tuple[str, ...]) -> None:
    from .automation.workflows import validate_file

    files = _workflow_files(paths)
    problems = [problem for path in files for problem in validate_file(path)]
    for problem in problems:
        click.echo(problem)
    if problems:
        raise SystemExit(1)
    click.echo(f"{len(files)} file(s) valid")


@main.group()
def workflows() -> None:
    """Workflow files: validate them, load them into Redis, write their JSON Schema."""


@workflows.command("validate")
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def workflows_validate(paths: tuple[str, ...]) -> None:
    """Check workflow files (default: every file in workflows/); each problem as ``file: field: problem``."""
    _validate(paths)


@workflows.command("sync")
@click.option("--dir", "directory", type=click.Path(file_okay=False),
              help="The workflow files' directory (default: the WORKFLOWS_DIR setting).")
@click.pass_context
def workflows_sync(ctx: click.Context, directory: str | None) -> None:
    """Load the workflow files into Redis now, as the web server does when it starts.

    Changed files replace their workflows, removed files' workflows go; workflows made over the API or the
    dashboard are never touched. Exits 1 when a file was refused.
    """
    from .automation import WorkflowConfigError
    from .settings import setting
    from .automation.workflows import sync_directory
    from .services import get_services

    app = build_app(ctx)
    directory = directory if directory is not None else setting(app.config, "WORKFLOWS_DIR")
    with app.app_context():
        try:
            report = sync_directory(get_services(), directory)
        except WorkflowConfigError as exc:
            raise click.ClickException(f"{exc} (nothing was synced)") from exc
    for line in report.lines() or [f"no workflow files in {directory or '(none configured)'}"]:
        click.echo(line)
    if report.refused:
        raise SystemExit(1)


@workflows.command("schema")
@click.argument("path", type=click.Path(dir_okay=False))
def workflows_schema(path: str) -> None:
    """Write the JSON Schema of a workflow file (made from the validation schemas) to PATH."""
    from .automation.config import write_json_schema

    write_json_schema(path)
    click.echo(f"wrote {path}")


# --- backup and restore ------------------------------------------------------------------------------
@main.command()
@click.argument("path", type=click.Path(dir_okay=False, writable=True))
@click.pass_context
def backup(ctx: click.Context, path: str) -> None:
    """Write everything this deployment holds to PATH (gzip-compressed JSON lines), while it keeps running.

    Profiles with their versions, workflows, smart lists, contacts (tags, DND, scores, ledgers, interaction
    history), runs, deliveries and the inbox. The file appears only once complete (PATH.partial meanwhile).
    """
    from .backup import write_archive
    from .services import get_services

    app = build_app(ctx)
    with app.app_context():
        services = get_services()
        gateway = services.snapshot
        total = gateway.contact_count()
        with click.progressbar(length=total, label="backing up contacts", file=sys.stderr) as bar:
            counts = write_archive(gateway, path, app.config, progress=bar.update, workspace=services.workspace,
                                   history=services.archive)
    click.echo(f"wrote {path}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))


@main.command()
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.pass_context
def restore(ctx: click.Context, path: str) -> None:
    """Restore a backup from PATH into an empty deployment (scores, ledgers, lists and indexes come back).

    The whole archive is checked first; nothing is written unless it is complete and the target is empty.
    """
    from .backup import ArchiveError, NotEmpty, check_archive, restore_archive
    from .services import get_services

    try:
        total = check_archive(path).get("contact", 0)
    except ArchiveError as exc:
        raise click.ClickException(f"{exc} (nothing was restored)") from exc
    app = build_app(ctx)
    announce_command(ctx, app)
    with app.app_context():
        services = get_services()
        try:
            with click.progressbar(length=total, label="restoring contacts", file=sys.stderr) as bar:
                counts = restore_archive(services, path, progress=bar.update)
        except (ArchiveError, NotEmpty) as exc:
            raise click.ClickException(f"{exc} (nothing was restored)") from exc
    click.echo(f"restored {path}: " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items())))


@main.command()
@click.pass_context
def reindex(ctx: click.Context) -> None:
    """Index every contact's search terms, latest interaction, DND channels and company (workers do it once at start)."""
    from .indexes import backfill
    from .services import get_services

    app = build_app(ctx)
    announce_command(ctx, app)
    with app.app_context():
        result = backfill(get_services())
    click.echo(f"indexed {result.contacts} contacts: {result.terms} search terms, {result.active} with activity, "
               f"{result.companies} placed in their company")


@main.command(hidden=True)
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate(paths: tuple[str, ...]) -> None:
    """Same as ``scorekeeper workflows validate`` (kept for scripts that use it)."""
    _validate(paths)


if __name__ == "__main__":
    main()


# --- users ----------------------------------------------------------------------------------------------
#: Who user changes made from the command line are recorded as in the audit trail.
CLI_ACTOR = "cli"


@main.group()
def users() -> None:
    """Dashboard users: create one (the first owner too), reset a password, list them."""


def _password(password_stdin: bool) -> str:
    """The new password: read from stdin (scripts), else asked twice without echo; never an argument."""
    if password_stdin:
        return sys.stdin.readline().rstrip("\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


@users.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["owner", "admin", "editor", "viewer"]), default="viewer", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.pass_context
def users_create(ctx: click.Context, email: str, role: str, password_stdin: bool) -> None:
    """Create a user with a role; the first user of a deployment must be an owner."""
    from .errors import ScorekeeperError
    from .people import create_first_owner, create_user, has_users
    from .services import get_services

    app = build_app(ctx)
    with app.app_context():
        services = get_services()
        first = not has_users(services)
        if first and role != "owner":
            raise click.ClickException("The first user must be an owner: pass --role owner.")
        password = _password(password_stdin)
        try:
            user = (create_first_owner(services, email, password, CLI_ACTOR) if first
                    else create_user(services, email, password, role, CLI_ACTOR))
        except ScorekeeperError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"created {user.email} ({user.role})")


@users.command("reset-password")
@click.option("--email", required=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from the first line of stdin.")
@click.option("--clear-totp", is_flag=True, help="Also turn the user's two-step sign-in off (a lost phone and lost "
                                                 "recovery codes); they can set it up again.")
@click.pass_context
def users_reset_password(ctx: click.Context, email: str, password_stdin: bool, clear_totp: bool) -> None:
    """Set a user's password; every session of theirs ends."""
    from .errors import ScorekeeperError
    from .people import reset_password
    from .services import get_services

    app = build_app(ctx)
    with app.app_context():
        password = _password(password_stdin)
        try:
            reset_password(get_services(), email, password, CLI_ACTOR, clear_totp=clear_totp)
        except ScorekeeperError as exc:
            raise click.ClickException(exc.message) from exc
    click.echo(f"password of {email.strip().lower()} reset" + (", two-step sign-in off" if clear_totp else ""))


@users.command("list")
@click.pass_context
def users_list(ctx: click.Context) -> None:
    """Every member of the workspace (`--workspace`, default `default`) and their role there."""
    from .people import members
    from .services import get_services

    app = build_app(ctx)
    with app.app_context():
        for member in members(get_services()):
            click.echo(f"{member['email']}\t{member['role']}")

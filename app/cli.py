"""The ``scorekeeper`` command: run the worker, import data, recompute, validate configs."""
from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson


def _app():
    from . import create_app

    return create_app()


@click.group()
def main() -> None:
    """Scorekeeper: engagement scoring and automation."""


@main.command()
@click.option("--burst", is_flag=True, help="Stop when the queue is empty.")
def worker(burst: bool) -> None:
    """Run a worker: scoring batches, publish jobs, workflow runs, and the ticker."""
    from workers.main import main as run

    run(burst=burst)


@main.command("import-profiles")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--publish", is_flag=True, help="Publish each profile after importing its draft.")
def import_profiles(path: str, publish: bool) -> None:
    """Import profile drafts from a JSON file: a list of {"id", "name", "rules", "bands", ...}."""
    from marshmallow import ValidationError

    from .api.schemas import ProfileDraftSchema
    from .publish import start_publish
    from .services import get_services

    docs = orjson.loads(Path(path).read_bytes())
    docs = docs if isinstance(docs, list) else [docs]
    app = _app()
    with app.app_context():
        services = get_services()
        store = services.profiles
        for doc in docs:
            profile_id = doc.pop("id", None)
            try:
                draft = ProfileDraftSchema().load(doc)
            except ValidationError as exc:
                raise click.ClickException(f"profile {profile_id}: {exc.messages}") from exc
            store.put_draft({"id": profile_id, **draft})
            click.echo(f"imported draft {profile_id}")
            if publish:
                job = start_publish(services, profile_id)
                click.echo(f"publishing {profile_id}: job {job['id']}")


@main.command("import-interactions")
@click.argument("path", type=click.Path(exists=True, dir_okay=False))
@click.option("--batch", default=1000, show_default=True, help="Interactions per write.")
def import_interactions(path: str, batch: int) -> None:
    """Import interactions from a JSONL file (one interaction per line), with a progress bar.

    A bad line stops the import before its batch is written, naming the line.
    """
    from .api.interactions import parse_batch
    from .errors import ValidationError
    from .ingest import ingest
    from .services import get_services

    app = _app()
    lines = Path(path).read_text().splitlines()
    accepted = duplicates = 0
    with app.app_context(), click.progressbar(length=len(lines), label="importing") as bar:
        services = get_services()
        for start in range(0, len(lines), batch):
            chunk = [ln for ln in lines[start:start + batch] if ln.strip()]
            try:
                items = [orjson.loads(ln) for ln in chunk]
                result = ingest(services, parse_batch({"interactions": items}, len(items) or 1))
            except (orjson.JSONDecodeError, ValidationError) as exc:
                errors = getattr(exc, "errors", {}) or {}
                first = next(iter((errors.get("interactions") or {}).items()), None)
                where = f"line {start + first[0] + 1}: {first[1]}" if first else str(exc)
                raise click.ClickException(f"{where} (nothing from this batch was stored)") from exc
            accepted += result.accepted
            duplicates += result.duplicates
            bar.update(len(lines[start:start + batch]))
    click.echo(f"accepted {accepted}, duplicates {duplicates}")


@main.command()
@click.argument("profile_id")
def recompute(profile_id: str) -> None:
    """Re-publish a profile's draft and follow the recompute with a progress bar (needs a worker)."""
    import time

    from .publish import get_job, start_publish
    from .services import get_services

    app = _app()
    with app.app_context():
        services = get_services()
        job = start_publish(services, profile_id)
        with click.progressbar(length=1000, label=f"recomputing {profile_id}") as bar:
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


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True))
def validate(paths: tuple[str, ...]) -> None:
    """Validate workflow config files (default: every file in workflows/)."""
    from .automation.cli import main as workflow_cli

    files = [str(p) for p in (paths or sorted(Path("workflows").glob("*.json"))) if not str(p).endswith(".schema.json")]
    code = workflow_cli(["validate", *files])
    if code == 0:
        click.echo(f"{len(files)} file(s) valid")
    sys.exit(code)


if __name__ == "__main__":
    main()

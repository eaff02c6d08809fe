"""The store-side commands of ``starter.py``: reconcile, archive, export, verify-log."""

import argparse
import json
import sys
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from config.settings import Settings
from encryption.payload_codec import PayloadKeyError, parse_keys
from ops.archive_sweep import sweep
from ops.attachment_sweep import sweep_attachments
from ops.decide import decide, report
from ops.export import NotFound, export_complaint
from ops.reconcile import reconcile
from ops.verify_log import complaint_ids, verify_complaint
from store.complaint_keys import rewrap_all
from store.engine import make_engine, make_sessionmaker
from store.migrate import upgrade
from temporal_client.connection import connect, data_converter

STORE_COMMANDS = ("reconcile", "archive", "export", "verify-log", "decide", "rotate-keys", "sweep-attachments")


async def _reconcile(client: Client, sessions: async_sessionmaker[AsyncSession], task_queue: str, dry_run: bool) -> int:
    report = await reconcile(client, sessions, task_queue, repair=not dry_run)
    verb = "would repair" if dry_run else "repaired"
    print(
        f"{report.workflows} workflows, {report.rows} store rows: {report.matching} matching, "
        f"{len(report.inserted)} missing rows {'to write' if dry_run else 'written'}, "
        f"{len(report.repaired)} {verb}, {report.log_rows_restored} log rows "
        f"{'to restore' if dry_run else 'restored'}, {report.anonymised_skipped} anonymised (left alone), "
        f"{report.archived_only} only in the archive, {len(report.orphans)} orphans, "
        f"{len(report.unreadable)} unreadable"
    )
    for cid, columns in report.repaired.items():
        print(f"  {cid}: {', '.join(columns)}")
    for cid in report.inserted:
        print(f"  {cid}: no store row")
    for cid in report.orphans:
        print(f"  {cid}: store row without a workflow or an archived history (look at it)")
    for cid, why in report.unreadable.items():
        print(f"  {cid}: state not readable ({why}); is a worker running?")
    return 1 if report.orphans or report.unreadable else 0


async def _verify(sessions: async_sessionmaker[AsyncSession], settings: Settings, ids: list[str]) -> int:
    converter = data_converter(settings, sessions)  # complaints' data keys are in the store
    bad = rows = redacted = archived = shredded = 0
    async with sessions() as session:
        for cid in ids or await complaint_ids(session):
            check = await verify_complaint(session, cid, converter)
            rows, redacted, archived = rows + check.rows, redacted + check.redacted, archived + check.archived
            shredded += check.shredded
            if check.rows == 0:
                check.problems.append("no log rows")
            if check.problems:
                bad += 1
                for problem in check.problems:
                    print(f"{cid}: {problem}")
    checked = len(ids) if ids else "all"
    print(
        f"verify-log ({checked}): {rows} rows, {redacted} redacted by data requests, {shredded} shredded (chain "
        f"only), {archived} complaints checked against their archived history, {bad} with problems"
    )
    return 1 if bad else 0


async def _rotate(sessions: async_sessionmaker[AsyncSession], settings: Settings) -> int:
    keks = parse_keys(settings.effective_payload_keys())
    try:
        done = await rewrap_all(sessions, keks)
    except PayloadKeyError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(
        f"rotate-keys: {done.rewrapped} data keys rewrapped under {next(iter(keks))!r}, {done.current} already "
        f"under it, {done.shredded} shredded (history is not re-encrypted: the data keys stay the same)"
    )
    return 0


async def store_command(args: argparse.Namespace, settings: Settings) -> int:
    url = settings.effective_database_url
    await upgrade(url)
    engine = make_engine(url)
    sessions = make_sessionmaker(engine)
    try:
        if args.command == "verify-log":
            return await _verify(sessions, settings, args.complaint_ids)
        if args.command == "rotate-keys":
            return await _rotate(sessions, settings)
        try:
            client: Client | None = await connect(settings, sessions)
        except RuntimeError as exc:
            if args.command != "export":
                print(f"error: cannot reach Temporal at {settings.temporal_address}: {exc}", file=sys.stderr)
                return 2
            client = None  # the archive alone is enough to export a completed complaint
        if args.command == "export":
            async with sessions() as session:
                try:
                    document = await export_complaint(
                        session, client, data_converter(settings, sessions), args.complaint_id
                    )
                except NotFound:
                    print(f"error: no complaint {args.complaint_id}", file=sys.stderr)
                    return 1
            _write_json(document, args.out)
            return 0
        assert client is not None
        if args.command == "decide":
            return report(await decide(client, sessions, args.complaint_id, args.decision, args.username, args.input))
        if args.command == "sweep-attachments":
            swept = await sweep_attachments(
                settings.effective_attachment_dir, sessions, settings.attachment_sweep_grace, client=client
            )
            print(
                f"sweep-attachments: {swept.files} files, {swept.referenced} referenced, {swept.young} within the "
                f"grace, {swept.kept_unsure} kept (workflow not readable), {swept.removed} removed"
            )
            return 0
        if args.command == "archive":
            result = await sweep(client, sessions, settings.task_queue)
            print(f"{result.closed} closed runs, {result.archived} archived now, {result.failed} failed")
            return 1 if result.failed else 0
        return await _reconcile(client, sessions, settings.task_queue, args.dry_run)
    finally:
        await engine.dispose()


def _write_json(document: dict[str, Any], out: Any) -> None:
    text = json.dumps(document, ensure_ascii=False, indent=2, default=str)
    if out:
        out.write_text(text + "\n", encoding="utf-8")
        print(f"written to {out}", file=sys.stderr)
    else:
        print(text)

"""Command line for complaints.

python starter.py file --channel email --name "Nguyễn Văn A" --email a@example.vn --body "..."
python starter.py status KN-7F3K9Q
python starter.py import complaints.csv     # or .json; re-running files nothing twice
python starter.py reconcile [--dry-run]      # compare the store with the workflows; repair the store
python starter.py archive                    # archive closed runs' histories the completion path missed
python starter.py sweep-attachments          # remove attachment files no message references (the worker also does)
python starter.py export KN-7F3K9Q [--out F]  # the complaint's full record, history decrypted, as JSON
python starter.py verify-log [KN-7F3K9Q ...]  # the log's hash chain and its agreement with the archive
python starter.py decide KN-7F3K9Q note --as lan.cs --input '{"text": "..."}'  # as an active account
python starter.py rotate-keys                # rewrap every data key under the first master key
"""

import argparse
import asyncio
import csv
import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode
from tqdm import tqdm

from config.settings import get_settings, private_umask
from domain.models import ComplaintIntake, Customer
from domain.vocabulary import Channel, Language
from intake.filing import IntakeRefused, complaint_state, file_complaint
from ops.commands import STORE_COMMANDS, store_command
from temporal_client.connection import connect


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="starter.py", description="File complaints and read their state.")
    sub = parser.add_subparsers(dest="command", required=True)
    f = sub.add_parser("file", help="file one complaint; prints its id")
    f.add_argument("--channel", required=True, choices=[c.value for c in Channel])
    f.add_argument("--name", required=True)
    f.add_argument("--email")
    f.add_argument("--phone")
    f.add_argument("--address")
    f.add_argument("--language", default="vi", choices=[lang.value for lang in Language])
    f.add_argument("--subject", default="")
    f.add_argument("--body", required=True)
    f.add_argument("--received-at", help="ISO 8601, for letters entered after they arrived")
    f.add_argument("--key", help="the channel's message id; filing the same key twice files once")
    s = sub.add_parser("status", help="print a complaint's state as JSON")
    s.add_argument("complaint_id")
    i = sub.add_parser("import", help="file a CSV or JSON batch")
    i.add_argument("file", type=Path)
    r = sub.add_parser("reconcile", help="compare every complaint in the store with its workflow; repair the store")
    r.add_argument("--dry-run", action="store_true", help="report only")
    sub.add_parser("archive", help="archive the histories of closed runs not archived yet")
    sub.add_parser("sweep-attachments", help="remove attachment files no message references, past the grace")
    e = sub.add_parser("export", help="a complaint's full record (store, log, decrypted history) as JSON")
    e.add_argument("complaint_id")
    e.add_argument("--out", type=Path, help="write to this file instead of standard output")
    v = sub.add_parser("verify-log", help="check the log's hash chain and its agreement with the archived history")
    v.add_argument("complaint_ids", nargs="*", help="default: every complaint")
    d = sub.add_parser(
        "decide",
        help="take a decision as an existing, active account (exit 1 refused, 2 bad input, 3 bad account, "
        "4 no such complaint, 5 Temporal unavailable)",
    )
    d.add_argument("complaint_id")
    d.add_argument("decision", help="the decision's name, e.g. verify, note, resolve")
    d.add_argument("--as", dest="username", required=True, help="the account that decides (it must be active)")
    d.add_argument("--input", default="{}", help="the decision's fields as a JSON object, without the actor")
    sub.add_parser("rotate-keys", help="rewrap every complaint's data key under the first master key")
    return parser


def intake_from_row(row: dict[str, Any]) -> ComplaintIntake:
    """One import row (flat CSV columns or JSON); its key defaults to a hash of its content."""
    row = {k: (v if v != "" else None) for k, v in row.items()}
    customer = row.get("customer") or {
        "name": row.get("name"),
        "email": row.get("email"),
        "phone": row.get("phone"),
        "address": row.get("address"),
        "language": row.get("language") or "vi",
    }
    key = (
        row.get("key")
        or "import:"
        + hashlib.sha256(json.dumps(row, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()
    )
    return ComplaintIntake(
        channel=row.get("channel"),  # type: ignore[arg-type]
        customer=Customer.model_validate(customer),
        subject=row.get("subject") or "",
        body=row.get("body"),  # type: ignore[arg-type]
        received_at=row.get("received_at"),  # type: ignore[arg-type]
        intake_key=key,
    )


def read_rows(path: Path) -> list[dict[str, Any]]:
    if path.suffix.lower() == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return list(data if isinstance(data, list) else data["complaints"])
    with path.open(newline="", encoding="utf-8-sig") as fh:
        return list(csv.DictReader(fh))


async def _import(client: Client, path: Path) -> int:
    settings = get_settings()
    rows = read_rows(path)
    created = duplicates = 0
    errors: list[str] = []
    for number, row in enumerate(tqdm(rows, desc="Filing", unit="complaint", file=sys.stderr), start=1):
        try:
            filed = await file_complaint(client, settings, intake_from_row(row))
        except ValidationError as exc:
            errors.append(f"row {number}: {_first_error(exc)}")
            continue
        except IntakeRefused as exc:
            errors.append(f"row {number}: {exc}")
            continue
        except RPCError as exc:
            errors.append(f"row {number}: not filed, Temporal answered: {exc.message}")
            continue
        created += filed.created
        duplicates += not filed.created
    print(f"{created} filed, {duplicates} already filed, {len(errors)} not filed")
    for error in errors:
        print(error, file=sys.stderr)
    return 1 if errors else 0


def _first_error(exc: ValidationError) -> str:
    err = exc.errors()[0]
    return f"{'.'.join(str(p) for p in err['loc']) or 'row'}: {err['msg']}"


async def run(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    settings = get_settings()
    if args.command in STORE_COMMANDS:
        return await store_command(args, settings)
    try:
        client = await connect(settings)
    except RuntimeError as exc:
        print(f"error: cannot reach Temporal at {settings.temporal_address}: {exc}", file=sys.stderr)
        return 2
    if args.command == "file":
        try:
            intake = ComplaintIntake(
                channel=args.channel,
                customer=Customer(
                    name=args.name, email=args.email, phone=args.phone, address=args.address, language=args.language
                ),
                subject=args.subject,
                body=args.body,
                received_at=args.received_at,
                intake_key=args.key,
            )
        except ValidationError as exc:
            print(f"error: {_first_error(exc)}", file=sys.stderr)
            return 2
        try:
            filed = await file_complaint(client, settings, intake)
        except IntakeRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        except RPCError as exc:
            print(f"error: not filed, Temporal answered: {exc.message}", file=sys.stderr)
            return 1
        print(filed.complaint_id)
        if not filed.created:
            print("(already filed with this key)", file=sys.stderr)
        return 0
    if args.command == "status":
        try:
            state = await complaint_state(client.get_workflow_handle(args.complaint_id))
        except RPCError as exc:
            if exc.status is RPCStatusCode.NOT_FOUND:
                print(f"error: no complaint {args.complaint_id}", file=sys.stderr)
            else:
                print(f"error: cannot read {args.complaint_id}: {exc.message}", file=sys.stderr)
            return 1
        print(state.model_dump_json(indent=2))
        return 0
    return await _import(client, args.file)


def main() -> None:
    private_umask()
    code = asyncio.run(run(sys.argv[1:]))
    sys.stdout.flush()
    sys.stderr.flush()
    # Skip interpreter teardown: the Temporal bridge's threads can abort a finalising
    # interpreter (temporalio/sdk-python#300), which would turn a clean exit into SIGABRT.
    os._exit(code)


if __name__ == "__main__":
    main()

"""`shotfarm log retire`: set a sequence aside for good, by appending SequenceRetired.

For a sequence the farm set aside at a record it cannot fold (see
core.isolation and `shotfarm log verify`), or a finished one whose id should
be free again. Nothing is edited or deleted: the log stays append-only, and
replay skips the sequence's records before the retirement.

Only while no farm runs on the output folder: a running farm owns its log,
and is asked through its API instead (POST /v1/sequences/{id}/retire).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
import time
from pathlib import Path

from orchestrator.core.isolation import RetireRefused, fold, retirement
from orchestrator.core.state import FarmState
from orchestrator.eventlog.sqlite import LogCorrupt, LogOwned, SqliteEventLog, own_log
from orchestrator.eventlog.verify import EXIT_BAD_INPUT, EXIT_OK, LOG_NAME

SEQUENCE_ID = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}:[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("sequence_id", help="show:sequence, as `shotfarm log verify` names it")
    p.add_argument("--reason", required=True, help="why (kept in the log)")
    p.add_argument("--out", type=Path, default=Path("out"), help="output folder holding shotfarm.db")


def retire(log_path: Path, sequence_id: str, reason: str, by: str) -> int:
    """Append the retirement; returns its seq. Raises RetireRefused, LogOwned or LogCorrupt."""
    fd = own_log(str(log_path) + ".lock", timeout=0)
    try:
        log = SqliteEventLog(log_path)
        try:
            state = FarmState()
            for seq, record in log.read():
                state = fold(state, seq, record)
            return log.append(retirement(state, sequence_id, reason, by, time.time()))
        finally:
            log.close()
    finally:
        os.close(fd)


def main(args: argparse.Namespace) -> int:
    import re

    log_path = Path(args.out) / LOG_NAME
    if not re.match(SEQUENCE_ID, args.sequence_id):
        print(f"error: {args.sequence_id[:140]!r} is not a sequence id (show:sequence)", file=sys.stderr)
        return EXIT_BAD_INPUT
    if not log_path.is_file():
        print(f"error: {log_path}: no event log there", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        seq = retire(log_path, args.sequence_id, args.reason, f"cli:{getpass.getuser()}")
    except LogOwned:
        print(
            f"error: a farm is running on {args.out}; retire through its API: "
            f"POST /v1/sequences/{args.sequence_id}/retire",
            file=sys.stderr,
        )
        return EXIT_BAD_INPUT
    except (RetireRefused, LogCorrupt) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT
    print(f"{args.sequence_id}: retired (seq {seq}); its id may be submitted anew")
    return EXIT_OK

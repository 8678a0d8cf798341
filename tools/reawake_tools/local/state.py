"""The local stack's state across restarts: saved when `reawake local` stops, restored at start.

What is kept (``.local/state/stack.pickle``, beside ``stack.json``; ``reawake local --reset``
deletes it): every item of the template's DynamoDB tables (leads, events, memberships,
enrollments, send claims, alerts, call lists), the generated secrets (so the signed links in mail
already sent keep working) and the stack clock's time. Everything else is rebuilt from
template.yaml and config/ at start, as before. The outbox folder is kept beside it.

`reawake local` saves from a forked child (``save_in_background``) so that it stops within
seconds whatever the size; the next start waits for that child to finish writing.

The tables are moto's own stored items, pickled: writing them back through the API would cost
minutes at a real customer's size (and replay them onto the stream), and the file is only ever
read by the process that wrote it (a file from another moto version is set aside, not loaded).
They are pickled in chunks of about ``CHUNK_ITEMS`` items, each its own pickle: a pickler's memo
holds a reference to every object it wrote, so one pickle of all the tables held (and, in the
forked saver, touched: copy-on-write) an entry per object of the whole state, ~3 KB per item on top
of the items; a chunk's memo is dropped when the chunk is written. Loading reads the chunks one by one
into the table's own dict. A file of the first format (one pickle) is still read.
"""

from __future__ import annotations

import gc
import logging
import os
import pickle
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reawake_tools.local.partitions import Partition, Partitions, adopted, stored

log = logging.getLogger("reawake_local")

FORMAT = 2  # 1: one pickle of Saved; 2: Saved without its tables, then each table in chunks
CHUNK_ITEMS = 2_000
SAVE_ATTEMPTS = 5  # a handler still finishing may write while the tables are copied: try again


@dataclass
class Saved:
    clock: float  # stack time, epoch seconds
    tables: dict[str, Any] = field(default_factory=dict)  # logical id -> moto's Table.items
    secrets: dict[str, str] = field(default_factory=dict)  # logical id -> SecretString
    saved_at: float = 0.0  # wall clock

    def counts(self) -> dict[str, int]:
        return {logical: sum(len(by_range) for by_range in items.values()) for logical, items in self.tables.items()}


def state_file() -> Path:
    from reawake_tools.local.connect import stack_file

    return stack_file().parent / "state" / "stack.pickle"


def _moto_version() -> str:
    import moto

    return str(getattr(moto, "__version__", "?"))


def moto_table(name: str) -> Any:
    """The emulator's table (in this process) by name."""
    from moto.dynamodb.models import dynamodb_backends

    for regions in list(dynamodb_backends.values()):
        for backend in list(regions.values()):
            if name in backend.tables:
                return backend.tables[name]
    raise KeyError(name)


class Cancelled(Exception):
    """A signal came while the state was being read or waited for: the start stops there, and the
    file is left as it is (neither moved aside nor written over by a partly restored stack)."""


def never() -> bool:
    return False


def load(path: Path, cancelled: Callable[[], bool] = never) -> Saved | None:
    """The saved state, or None (no file; or one this version cannot read, moved aside).
    ``cancelled`` is asked between chunks (format 2): a True raises Cancelled."""
    if not path.is_file():
        return None
    try:
        with path.open("rb") as file:
            header = pickle.load(file)  # noqa: S301 - our own file, written by save() below
            if not isinstance(header, dict) or header.get("format") not in (1, FORMAT) \
                    or header.get("moto") != _moto_version():
                raise ValueError(f"saved by another version ({header})")
            saved = pickle.load(file)  # noqa: S301
            if not isinstance(saved, Saved):
                raise ValueError("not a saved stack")
            if header["format"] == FORMAT:
                saved.tables = _read_tables(file, cancelled)
        return saved
    except Cancelled:
        raise
    except Exception as exc:
        aside = path.with_name(path.name + ".unreadable")
        os.replace(path, aside)
        log.warning("the saved state %s could not be read (%s): starting clean; it is kept as %s", path, exc, aside)
        print(f"warning: the saved state could not be read ({exc}); starting clean (kept as {aside})", flush=True)
        return None


def restore(saved: Saved, table_names: dict[str, str], secret_ids: dict[str, str], clients: Any) -> None:
    """Put the saved items into the (new, empty) tables and the saved secret values back."""
    for logical, items in saved.tables.items():
        if logical in table_names:
            moto_table(table_names[logical]).items = adopted(items)
    manager = clients("secretsmanager") if saved.secrets else None
    for logical, text in saved.secrets.items():
        if logical in secret_ids and manager is not None:
            manager.put_secret_value(SecretId=secret_ids[logical], SecretString=text)


def capture_secrets(secret_ids: dict[str, str], clients: Any) -> dict[str, str]:
    manager = clients("secretsmanager")
    return {logical: str(manager.get_secret_value(SecretId=arn)["SecretString"]) for logical, arn in secret_ids.items()}


def save(path: Path, clock: float, table_names: dict[str, str], secrets: dict[str, str]) -> Saved:
    """Write the tables, secrets and clock (atomically: a stop cut short leaves the previous file)."""
    for attempt in range(SAVE_ATTEMPTS):
        saved = _snapshot(clock, table_names, secrets)
        try:
            _write(path, saved)
            return saved
        except RuntimeError:  # "changed size during iteration": a late write; copy again
            if attempt == SAVE_ATTEMPTS - 1:
                raise
            time.sleep(0.05)
    raise AssertionError("unreachable")  # pragma: no cover


def save_in_background(path: Path, clock: float, table_names: dict[str, str], secrets: dict[str, str]) -> tuple[
        Saved, int]:
    """Save a copy-on-write snapshot of this moment from a forked process, so that stopping does
    not wait for it (pickling moto's items takes about a millisecond per item on a busy machine:
    minutes at a real customer's size). The child only pickles and writes; the marker file names
    it until it is done, and ``wait_for_saver`` (the next start, --reset) waits for it."""
    saved = _snapshot(clock, table_names, secrets)
    marker = _marker(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pid = os.fork()
    if pid == 0:  # the child: nothing but the write (no thread, lock or socket of the parent is used)
        code = 1
        try:
            gc.disable()  # a collection would walk (and copy, page by page) the parent's whole heap
            _write(path, saved)
            code = 0
        finally:
            os._exit(code)
    marker.write_text(str(pid), encoding="ascii")
    return saved, pid


def wait_for_saver(path: Path, say: Any = print, timeout: float = 3600,
                   cancelled: Callable[[], bool] = never) -> None:
    """Wait until a save started by an earlier stop has finished writing (Cancelled on a signal)."""
    marker = _marker(path)
    try:
        pid = int(marker.read_text(encoding="ascii"))
    except (OSError, ValueError):
        return
    deadline = time.monotonic() + timeout
    noted = False
    while _alive(pid) and time.monotonic() < deadline:
        if not noted:
            say(f"waiting for the previous stop to finish saving the state (pid {pid}) / "
                "前回停止時の状態の保存を待っています…")
            noted = True
        if cancelled():
            raise Cancelled
        time.sleep(0.2)
    marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    """A live process that is not a zombie (a saver whose parent has not reaped it yet is done)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text(encoding="ascii", errors="replace")
    except OSError:
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    return "\nState:\tZ" not in status


def _marker(path: Path) -> Path:
    return path.with_name(path.name + ".saving")


def _snapshot(clock: float, table_names: dict[str, str], secrets: dict[str, str]) -> Saved:
    return Saved(clock, {logical: moto_table(name).items for logical, name in table_names.items()}, secrets,
                 time.time())


def _write(path: Path, saved: Saved) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    header = {"format": FORMAT, "moto": _moto_version()}
    try:
        with tmp.open("wb", buffering=1 << 20) as file:
            pickle.dump(header, file, protocol=pickle.HIGHEST_PROTOCOL)
            pickle.dump(Saved(saved.clock, {}, saved.secrets, saved.saved_at), file, protocol=pickle.HIGHEST_PROTOCOL)
            _write_tables(file, saved.tables)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


_END = None  # after a table's chunks; after the last table


def _write_tables(file: Any, tables: dict[str, Any]) -> None:
    """Each table: its name, its chunks (lists of (hash key, partition) pairs, about CHUNK_ITEMS
    items each, one pickle each), an end mark; an end mark after the last table."""
    for logical, items in tables.items():
        pickle.dump(logical, file, protocol=pickle.HIGHEST_PROTOCOL)
        chunk: list[tuple[Any, Any]] = []
        size = 0
        for hash_key, partition in items.items():
            chunk.append((hash_key, partition))
            size += len(partition) if isinstance(partition, dict | Partition) else 1
            if size >= CHUNK_ITEMS:
                pickle.dump(chunk, file, protocol=pickle.HIGHEST_PROTOCOL)
                chunk, size = [], 0
        if chunk:
            pickle.dump(chunk, file, protocol=pickle.HIGHEST_PROTOCOL)
        pickle.dump(_END, file, protocol=pickle.HIGHEST_PROTOCOL)
    pickle.dump(_END, file, protocol=pickle.HIGHEST_PROTOCOL)


def _read_tables(file: Any, cancelled: Callable[[], bool] = never) -> dict[str, Any]:
    """What _write_tables wrote: {logical id: the table's items (``partitions.Partitions``)}."""
    tables: dict[str, Any] = {}
    while (logical := pickle.load(file)) is not _END:  # noqa: S301
        items = Partitions()
        while (chunk := pickle.load(file)) is not _END:  # noqa: S301
            if cancelled():
                raise Cancelled
            items.update((hash_key, stored(partition)) for hash_key, partition in chunk)
        tables[str(logical)] = items
    return tables


def reset(path: Path) -> bool:
    """Forget the saved state (after a save still being written); whether there was one."""
    wait_for_saver(path)
    found = path.exists()
    path.unlink(missing_ok=True)
    for stale in path.parent.glob(path.name + ".*.tmp"):
        stale.unlink(missing_ok=True)
    return found

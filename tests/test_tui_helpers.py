"""The TUI's plain helpers: selection rules, batching, fetch commands, previews, the index.

The explorer's safe extraction is the core's: tests/test_extract_entries.py."""

from __future__ import annotations

import io
import json
import threading

from zipfixtures import unix_zip

from tui.core.archive.zipreader import ZipReader
from tui.ui.demo.portal import demo_inventory, demo_sizes
from tui.ui.logic.archive_index import ArchiveIndex, matching
from tui.ui.logic.batcher import Batcher
from tui.ui.logic.fetchcmd import fetch_commands
from tui.ui.logic.preview import make_preview, mask_private_keys
from tui.ui.logic.selection import Selection


def test_app_toggles_its_mounts_and_a_mount_makes_it_partial() -> None:
    inv = demo_inventory()
    sel = Selection(inv)
    mounts = sel.children["app/immich"]
    assert len(mounts) == 2 and sel.state("app/immich") == "on"
    sel.toggle("app/immich")
    assert sel.state("app/immich") == "off" and not any(m in sel.checked for m in mounts)
    sel.toggle(mounts[0])
    assert sel.state("app/immich") == "partial"
    # A partial app is backed up by its checked mounts only, never the whole app.
    assert mounts[0] in sel.selected_ids() and "app/immich" not in sel.selected_ids()
    sel.toggle(mounts[1])
    assert sel.state("app/immich") == "on" and "app/immich" in sel.selected_ids()
    assert mounts[0] not in sel.selected_ids()  # implied by the app


def test_totals_count_each_tree_once_and_wait_for_unknown_sizes() -> None:
    inv = demo_inventory()
    sel = Selection(inv)
    assert sel.totals("stop").pending_sources > 0
    for item_id, size in demo_sizes(inv).items():
        inv.get(item_id).size = size  # type: ignore[union-attr]  # demo IDs exist
    totals = sel.totals("stop")
    assert totals.pending_sources == 0
    # nextcloud mounts user_data/shared, which is also the "shared" item: counted once.
    shared = inv.get("shared").size.bytes  # type: ignore[union-attr]  # sized above
    counted = [i.size for i in inv.items if i.kind != "mount" and i.id != "core/identity"]
    naive = sum(s.bytes for s in counted if s is not None)
    assert None not in counted
    assert totals.bytes == naive - shared
    assert totals.apps_quiesced == 3  # immich, jellyfin, nextcloud run; the others do not
    assert sel.totals("none").apps_quiesced == 0


def test_batcher_delivers_few_batches_for_many_events() -> None:
    batches: list[list[int]] = []
    batcher: Batcher[int] = Batcher(batches.append, hz=5)
    for i in range(100_000):
        batcher.push(i)
    batcher.close()
    assert [x for b in batches for x in b] == list(range(100_000))
    assert len(batches) <= 3


def test_batcher_delivers_a_lone_event_without_waiting_for_more() -> None:
    got = threading.Event()
    batcher: Batcher[str] = Batcher(lambda batch: got.set(), hz=20)
    batcher.push("stopping")
    assert got.wait(5), "an event followed by silence must still be delivered"
    batcher.close()


def test_fetch_commands_from_ssh_connection() -> None:
    env = {"SSH_CONNECTION": "192.0.2.1 5555 198.51.100.7 2222", "USER": "anna"}
    cmds = fetch_commands("/srv/backups/my file.zip", env)
    assert cmds.scp == "scp -P 2222 'anna@198.51.100.7:/srv/backups/my file.zip' ."
    assert cmds.rsync == "rsync -P -e 'ssh -p 2222' 'anna@198.51.100.7:/srv/backups/my file.zip' ."
    v6 = fetch_commands("/a.zip", {"SSH_CONNECTION": "::1 5 fe80::2 22"}, user="root")
    assert v6.scp == "scp 'root@[fe80::2]:/a.zip' ." and not v6.guessed  # [] quoted for the shell
    assert fetch_commands("/a.zip", {}, user="u", hostname="box").guessed


def test_previews() -> None:
    pretty = make_preview("x.json", b'{"a":[1,2]}', 11)
    assert pretty.lexer == "json" and '"a": [' in pretty.text
    binary = make_preview("x.bin", bytes(range(256)), 256)
    assert binary.kind == "binary" and binary.text.startswith("00000000  00 01 02")
    head = make_preview("big.log", b"line\n" * 100, 10**9)
    assert head.truncated and head.kind == "text"
    assert make_preview("app.py", b"print(1)\n", 9).lexer == "python"
    key = "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"
    masked, hit = mask_private_keys(json.dumps({"k": key}))
    assert hit and "MIIE" not in masked


def test_index_sums_folders_and_keeps_unsafe_names_apart() -> None:
    data = unix_zip({"a/b/c.txt": b"x" * 10, "a/d.txt": b"y" * 5, "../evil": b"!", "/abs": b"!"})
    index = ArchiveIndex(ZipReader(io.BytesIO(data)).entries)
    assert index.root.folders["a"].size == 15 and index.root.folders["a"].count == 2
    assert sorted(u.entry.name for u in index.unsafe) == ["../evil", "/abs"]
    assert ".." not in index.root.folders
    found, total = matching(index.entries, "C.TXT", 10)
    assert total == 1 and found[0].name == "a/b/c.txt"

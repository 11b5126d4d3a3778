"""Regenerate the SVG screenshots of every screen from the demo Portal (tui/ui/demo/portal.py).

    python screenshots/make.py                      # writes screenshots/*.svg
    python screenshots/make.py --out DIR home done  # only these, into DIR

The main screens are pictured at 80x24 (where layouts are tightest), the home screen once more
at 160x40 (home-wide.svg). Everything shown is made-up demo data with fixed clocks, a fixed
archive path and a fresh state directory per picture, so the pictures only change when the UI
or the demo does: running this twice gives the same bytes. The pictures of automatic backups
and destinations read the demo job (tui/ui/demo/automatic.py), written into that state
directory; times show in UTC, and the job's next run is the demo's, not this host's timer's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fcntl
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

import tui.core.auto.status  # noqa: E402
from tui.ui.app import PortalBackupApp  # noqa: E402
from tui.ui.demo import destinations as demo_dest  # noqa: E402
from tui.ui.demo.archive import LAST_ARCHIVE, open_demo_archive  # noqa: E402
from tui.ui.demo.automatic import NEXT_RUN, demo_environ, demo_identity, write_demo_job  # noqa: E402
from tui.ui.demo.differential import write_demo_chain  # noqa: E402
from tui.ui.demo.portal import ARCHIVE, ENVIRON, NOW, DemoSource, FakeClock  # noqa: E402

SIZE = (80, 24)
WIDE = (160, 40)
# "Run elsewhere" writes a real folder and names it on screen: a fixed one, not a random
# temporary path, so the picture stays the same (a lock keeps two runs apart).
EJECT_CWD = "/tmp/portal-backup-demo"
Steps = Callable[[Any], Awaitable[None]]
Size = tuple[int, int]
JOB_ENV = ("PORTAL_BACKUP_CONFIG", "RCLONE_CONFIG")


async def until(pilot: Any, predicate: Callable[[], object], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError("the demo did not reach the expected state")
        await pilot.pause(0.02)


def demo_app(
    explore: str | None = None, hold: bool = False, automatic: bool = False, cwd: str = "/root"
) -> PortalBackupApp:
    return PortalBackupApp(
        DemoSource(hold=hold, automatic=automatic),
        explore=explore,
        open_archive=open_demo_archive,  # the demo's last backup, at its fixed path
        wall_clock=lambda: NOW,
        clock=FakeClock(),
        environ=ENVIRON,
        cwd=cwd,
    )


def job_app() -> PortalBackupApp:
    """The demo with its automatic backups: the reminder line on the list."""
    return demo_app(automatic=True)


def differential_app() -> PortalBackupApp:
    """The explorer on the demo's differential, its full backup beside it: real files (the
    base's SHA-256 is checked on the file), in this picture's state directory."""
    state = Path(os.environ["PORTAL_BACKUP_STATE_DIR"])
    path = write_demo_chain(state / "backups")
    app = demo_app(explore=str(path))
    app.open_archive = app.keys.open  # the files themselves
    return app


def eject_app() -> PortalBackupApp:
    return demo_app(explore=LAST_ARCHIVE, cwd=EJECT_CWD)


async def shoot(
    out: Path, name: str, make_app: Callable[[], PortalBackupApp], steps: Steps, size: Size
) -> None:
    # A fresh state directory per picture: no recent archives or last backup of this machine,
    # and no picture depends on the ones made before it. The demo job is there for all.
    state = tempfile.mkdtemp(prefix="pb-shots-")
    environ = demo_environ(Path(state) / "etc", Path(state))
    write_demo_job(Path(state) / "etc", Path(state))
    os.environ.update(environ)
    try:
        app = make_app()
        async with app.run_test(size=size) as pilot:
            await steps(pilot)
            await pilot.pause()
            app.save_screenshot(f"{name}.svg", str(out))
    finally:
        for key in JOB_ENV:
            os.environ.pop(key, None)
        shutil.rmtree(state, ignore_errors=True)
    print(out / f"{name}.svg")


async def home(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "sizes_done", False))


async def identity_off(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("i", "slash", *"immich", "enter", "down", "down", "space")
    pilot.app.clear_notifications()


async def progress(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("b", "a")
    await until(pilot, lambda: getattr(pilot.app.screen, "last_progress", None))


async def confirm(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("b")  # the identity is in and not encrypted: the warning first


async def encryption(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("e", *"correct horse battery staple", "enter", *"correct horse")


async def done(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("b", "a")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "DoneScreen")


async def help_screen(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("question_mark")


async def restore(pilot: Any) -> None:
    # From the list: R, the archive's path (the demo restore reads no file), enter.
    await home(pilot)
    await pilot.press("R", "ctrl+u", *ARCHIVE, "enter")
    await until(
        pilot,
        lambda: (
            getattr(pilot.app.screen, "measured", False)
            and pilot.app.screen.current_selection() is not None
        ),
    )
    await pilot.press(*["down"] * 7)  # the immich app: two containers to stop


async def restore_dry_run(pilot: Any) -> None:
    await restore(pilot)
    await pilot.press("space", "d")
    await until(pilot, lambda: getattr(pilot.app.screen, "text", None) is not None)


async def restore_done(pilot: Any) -> None:
    await restore(pilot)
    await pilot.press("space")
    await until(pilot, lambda: pilot.app.screen.current_selection() is not None)
    await pilot.press("r", "y")
    await until(pilot, lambda: type(pilot.app.screen).__name__ == "RestoreDoneScreen")


async def explorer(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("right", "down", "down", "down")
    await until(pilot, lambda: pilot.app.screen.previewed == "core/portal_core_db.json")


async def verify(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("v")
    await until(pilot, lambda: getattr(pilot.app.screen, "report", None))


def screen_is(pilot: Any, name: str) -> Callable[[], bool]:
    return lambda: type(pilot.app.screen).__name__ == name


async def destination_dialog(pilot: Any) -> Any:
    """d on the list, once the dialog has listed the demo job's rclone remotes."""
    await home(pilot)
    await pilot.press("d")
    await until(pilot, lambda: getattr(pilot.app.screen, "remotes", None) is not None)
    dialog = pilot.app.screen
    dialog.query_one("#remotes").focus()  # as a click on the list (Tab would complete the path)
    await pilot.pause()
    return dialog


async def destination(pilot: Any) -> None:
    from tui.ui.screens.destination import Probed

    dialog = await destination_dialog(pilot)
    await pilot.press(*["down"] * dialog.remotes.index(demo_dest.REMOTE), "enter")
    await pilot.press(*demo_dest.FOLDER)
    # Test (^t) would reach the internet: the demo's answer instead, through the same message.
    dialog.post_message(Probed(demo_dest.SPEC, demo_dest.PROBE))
    await until(pilot, lambda: dialog.last_probe is not None)


async def remote_form(pilot: Any) -> None:
    await destination_dialog(pilot)
    await pilot.press("end", "enter")  # "+ Add a remote"
    await until(pilot, screen_is(pilot, "RemoteFormDialog"))
    await pilot.press("tab", "enter")  # the tabs, the suggested name: on to the S3 fields
    *shown, secret = demo_dest.S3_FORM.values()
    for value in shown:
        await pilot.press(*value, "enter")
    await pilot.press(*secret)  # not Enter: that would save it


async def automatic(pilot: Any) -> None:
    await home(pilot)
    await pilot.press("A")
    await until(pilot, lambda: getattr(pilot.app.screen, "view", None) is not None)


async def automatic_identity(pilot: Any) -> None:
    from tui.ui.screens.automatic_identity import IdentityDialog

    await automatic(pilot)
    # As e shows it, but at root's path rather than this picture's temporary config folder.
    pilot.app.push_screen(IdentityDialog(demo_identity()))
    await until(pilot, screen_is(pilot, "IdentityDialog"))


async def differential(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("slash", *"pages/howto", "enter", *["down"] * 8)  # to howto/003.md
    changed = "user_data/app_data/wiki/pages/howto/003.md"
    await until(pilot, lambda: pilot.app.screen.previewed == changed)


async def eject(pilot: Any) -> None:
    await until(pilot, lambda: getattr(pilot.app.screen, "opened", None))
    await pilot.press("slash", *"app_data/vaultwarden", "enter", "down", "down")
    await pilot.press("e")
    await until(pilot, screen_is(pilot, "PathDialog"))
    await pilot.press("enter")
    await until(pilot, screen_is(pilot, "MessageDialog"))
    pilot.app.clear_notifications()


# name -> (the app, what to do before the picture, terminal size)
SHOTS: dict[str, tuple[Callable[[], PortalBackupApp], Steps, Size]] = {
    "home": (demo_app, home, SIZE),
    "home-wide": (demo_app, home, WIDE),
    "home-filtered-identity-off": (demo_app, identity_off, SIZE),
    "confirm": (demo_app, confirm, SIZE),
    "encryption": (demo_app, encryption, SIZE),
    "progress": (lambda: demo_app(hold=True), progress, SIZE),
    "done": (demo_app, done, SIZE),
    "help": (demo_app, help_screen, SIZE),
    "restore": (demo_app, restore, SIZE),
    "restore-dry-run": (demo_app, restore_dry_run, SIZE),
    "restore-done": (demo_app, restore_done, SIZE),
    "explorer": (lambda: demo_app(explore=LAST_ARCHIVE), explorer, SIZE),
    "explorer-verify": (lambda: demo_app(explore=LAST_ARCHIVE), verify, SIZE),
    "destination": (demo_app, destination, SIZE),
    "remote-form": (demo_app, remote_form, SIZE),
    "home-reminder": (job_app, home, SIZE),
    "automatic": (job_app, automatic, SIZE),
    "automatic-identity": (job_app, automatic_identity, SIZE),
    "explorer-differential": (differential_app, differential, SIZE),
    "eject": (eject_app, eject, SIZE),
}


async def main(out: Path, names: list[str]) -> None:
    os.environ["TZ"] = "UTC"  # the runs' times are local times
    time.tzset()
    tui.core.auto.status.next_run_time = lambda config: NEXT_RUN  # not this host's timer
    for name in names:
        make_app, steps, size = SHOTS[name]
        if name == "eject":
            with demo_folder(EJECT_CWD):
                await shoot(out, name, make_app, steps, size)
        else:
            await shoot(out, name, make_app, steps, size)


@contextlib.contextmanager
def demo_folder(path: str) -> Iterator[None]:
    """An empty folder at a fixed path while a picture writes into it; removed after."""
    with open(f"{path}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        shutil.rmtree(path, ignore_errors=True)
        os.makedirs(path)
        try:
            yield
        finally:
            shutil.rmtree(path, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", choices=[[], *SHOTS], help="pictures to make (all)")
    parser.add_argument("--out", type=Path, default=HERE, help="directory (screenshots/)")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    asyncio.run(main(args.out, args.names or list(SHOTS)))

"""DEST specs, the rclone config's precedence, rclone's complaints as sentences, and rclone
children that outlive the thread that started them but not the process."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import pytest
from rclone_servers import RcloneServer
from test_dest_store import NAME, payload

from tui.core.dest.rclone import FLAGS, config_path, error_sentence, find_rclone
from tui.core.dest.store import Upload, open_store
from tui.core.dest.target import parse_dest
from tui.core.errors import UsageError


def test_local_remote_and_connection_string_specs(tmp_path: Path) -> None:
    local = parse_dest(str(tmp_path))
    assert (local.local, local.remote, local.label) == (tmp_path, None, str(tmp_path))
    assert parse_dest("./a:b").local == Path.cwd() / "a:b"
    named = parse_dest("my remote:portal/backups")
    assert (named.local, named.remote, named.env) == (None, "my remote:portal/backups", {})
    spec = ":s3,provider=Minio,endpoint='http://10.0.0.2:9000',secret_access_key='S3c,r:t':bkt/p"
    s3 = parse_dest(spec)
    assert s3.remote == ":s3:bkt/p"
    assert s3.env == {
        "RCLONE_S3_PROVIDER": "Minio",
        "RCLONE_S3_ENDPOINT": "http://10.0.0.2:9000",
        "RCLONE_S3_SECRET_ACCESS_KEY": "S3c,r:t",
    }
    assert (
        s3.label == ":s3,provider=Minio,endpoint=http://10.0.0.2:9000,secret_access_key=***:bkt/p"
    )
    over = parse_dest("box,pass='it''s':dir")
    assert (over.remote, over.env) == ("box:dir", {"RCLONE_CONFIG_BOX_PASS": "it's"})
    assert "it's" not in over.label


@pytest.mark.parametrize(
    "spec", ["", "  ", ":s3", ":s3,key=v", ":,a=b:x", ":sftp,=v:x", ":s3,k='unclosed:x"]
)
def test_malformed_specs_are_one_sentence(spec: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_dest(spec)
    assert "\n" not in str(err.value)


def test_rclone_config_precedence(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RCLONE_CONFIG", raising=False)
    assert config_path(tmp_path / "job.conf") == tmp_path / "job.conf"
    assert config_path(None) == Path("/etc/portal-backup/rclone.conf")  # the tests run as root
    monkeypatch.setenv("RCLONE_CONFIG", str(tmp_path / "env.conf"))
    assert config_path(tmp_path / "job.conf") == tmp_path / "env.conf"
    assert Path(find_rclone()).name == "rclone"
    assert "--contimeout=5s" in FLAGS and "--s3-chunk-size=64M" in FLAGS


def test_rclone_complaints_become_sentences() -> None:
    dest = parse_dest(":webdav,url='http://h:1',pass=SECRETVALUE:dir")
    conf = Path("/etc/portal-backup/rclone.conf")
    refused = (
        '2026/12/06 08:17:27 NOTICE: Config file "x" not found - using defaults\n'
        '2026/12/06 08:17:28 ERROR : error listing: Propfind "http://h:1/dir/": dial tcp '
        "127.0.0.1:1: connect: connection refused\n"
    )
    assert error_sentence(dest, refused, "list the files", conf) == (
        f"the destination {dest.label} refused the connection while trying to list the files; "
        "is the server running?"
    )
    odd = "2026/12/06 08:17:28 NOTICE: Failed to rcat with 2 errors: last error was: SECRETVALUE x"
    sentence = error_sentence(dest, odd, "upload", conf)
    assert "SECRETVALUE" not in sentence and sentence.endswith(": *** x")


def test_an_upload_outlives_the_thread_that_began_it(webdav_server: RcloneServer) -> None:
    """rclone dies with its parent *thread* (PR_SET_PDEATHSIG): children are started from one
    long-lived thread, so an upload begun in a worker that ended still completes."""
    store = open_store(parse_dest(webdav_server.target), rclone_config=webdav_server.config)
    began: list[Upload] = []
    worker = threading.Thread(target=lambda: began.append(store.begin_upload(NAME)))
    worker.start()
    worker.join()
    data = payload(1 << 20)
    began[0].write(data)
    began[0].commit(size=len(data), sha256=hashlib.sha256(data).hexdigest(), verify=True)
    assert (webdav_server.root / NAME).read_bytes() == data


def test_an_rclone_config_others_can_read_is_refused(tmp_path: Path) -> None:
    from tui.core.dest.rclone import Rclone
    from tui.core.dest.target import parse_dest
    from tui.core.errors import PortalBackupError

    conf = tmp_path / "rclone.conf"
    conf.write_text("[r]\ntype = local\n")
    conf.chmod(0o644)
    with pytest.raises(PortalBackupError, match="chmod 600"):
        Rclone(parse_dest("r:x"), conf)
    conf.chmod(0o600)
    assert Rclone(parse_dest("r:x"), conf).config == conf


def test_an_archive_name_at_a_destination_cannot_leave_the_download_folder() -> None:
    from tui.core.dest.download import split_dest_name
    from tui.core.errors import PortalBackupError

    assert split_dest_name("offsite:portal-backup-x-20260101-000000.zip") == (
        "offsite",
        "portal-backup-x-20260101-000000.zip",
    )
    with pytest.raises(PortalBackupError, match="plain file name"):
        split_dest_name("offsite:portal-backup-x/../../etc/y-20260101-000000.zip")

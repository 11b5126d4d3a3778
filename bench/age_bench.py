"""Encryption and decryption throughput of our age implementation beside the stock `age` tool.

    python bench/age_bench.py [--size-mb 1024] [--dir /tmp]

Makes one archive-like file (half random, half text), encrypts it with our AgeWriter and with
`age -r`, decrypts both ways, checks every result is byte-identical, and prints a table.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import subprocess
import time
from pathlib import Path

from tui.core.crypto.age import AgeReader, AgeWriter, X25519Identity

CHUNK = 1 << 20


def make_input(path: Path, size: int) -> None:
    rnd = random.Random(7)
    words = [b"photo", b"backup", b"portal", b"zip", b"volume", b"note", b"wiki", b"docker"]
    text = b" ".join(rnd.choice(words) for _ in range(300_000))[:CHUNK]
    noise = rnd.randbytes(CHUNK)
    with open(path, "wb") as f:
        for i in range(size // CHUNK):
            f.write(noise if i % 2 else text)


def sha(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(CHUNK):
            h.update(b)
    return h.hexdigest()


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--size-mb", type=int, default=1024)
    ap.add_argument("--dir", default="/tmp")
    args = ap.parse_args()
    work = Path(args.dir) / "pb-age-bench"
    work.mkdir(exist_ok=True)
    plain = work / "plain.zip"
    size = args.size_mb * CHUNK
    if not plain.exists() or plain.stat().st_size != size:
        make_input(plain, size)
    ident = X25519Identity.generate()
    key = work / "key.txt"
    key.write_text(str(ident) + "\n")
    public = str(ident.recipient())
    ours, stock = work / "ours.age", work / "stock.age"
    ref = sha(plain)

    def our_encrypt() -> None:
        with open(plain, "rb") as src, open(ours, "wb") as dst:
            w = AgeWriter(dst, [ident.recipient()])
            while b := src.read(CHUNK):
                w.write(b)
            w.close()

    def our_decrypt(path: Path) -> None:
        with open(path, "rb") as src, open(work / "out", "wb") as dst:
            r = AgeReader(src, [ident])
            buf = bytearray(CHUNK)
            while n := r.readinto(buf):
                dst.write(memoryview(buf)[:n])

    rows = []
    subprocess.run(["cat", str(plain)], stdout=subprocess.DEVNULL, check=True)  # warm cache
    rows.append(("encrypt", "portal-backup (AgeWriter)", timed(our_encrypt)))
    rows.append(
        (
            "encrypt",
            "age -r",
            timed(
                lambda: subprocess.run(
                    ["age", "-r", public, "-o", str(stock), str(plain)], check=True
                )
            ),
        )
    )
    rows.append(("decrypt", "portal-backup (AgeReader)", timed(lambda: our_decrypt(stock))))
    assert sha(work / "out") == ref
    rows.append(
        (
            "decrypt",
            "age -d",
            timed(
                lambda: subprocess.run(
                    ["age", "-d", "-i", str(key), "-o", str(work / "out"), str(ours)], check=True
                )
            ),
        )
    )
    assert sha(work / "out") == ref  # stock age opens what we wrote
    print(f"{args.size_mb} MiB, {os.cpu_count()} cores")
    print("| direction | tool | seconds | MB/s |\n| --- | --- | ---: | ---: |")
    for d, tool, secs in rows:
        print(f"| {d} | {tool} | {secs:.2f} | {size / secs / 1e6:.0f} |")
    for p in (ours, stock, work / "out"):
        p.unlink(missing_ok=True)


if __name__ == "__main__":
    main()

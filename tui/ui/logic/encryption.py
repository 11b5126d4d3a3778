"""What the backup screen's encryption choice means, with no Textual in it: the choice itself,
the recipients it gives the engine, the passphrase strength hint and the key parsing."""

from __future__ import annotations

import math
import os
import re
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tui.core.crypto.age import AgeError, ScryptRecipient, X25519Recipient, load_recipients_file

Mode = Literal["none", "passphrase", "recipients"]


@dataclass(frozen=True)
class Encryption:
    """The user's choice. age allows a passphrase only as the sole recipient, hence the modes."""

    mode: Mode = "none"
    passphrase: str = field(default="", repr=False)  # never in a repr, a log or a traceback
    keys: tuple[X25519Recipient, ...] = ()  # typed or pasted age1... keys
    keys_text: str = ""  # as typed, to show them again when the dialog reopens
    recipients_file: str = ""
    file_keys: tuple[X25519Recipient, ...] = ()  # read from recipients_file when chosen

    @property
    def encrypted(self) -> bool:
        return self.mode != "none"

    @property
    def all_keys(self) -> list[X25519Recipient]:
        return unique([*self.keys, *self.file_keys])

    def recipients(self) -> list[Any]:
        """For BackupOptions.encrypt_to: empty means a plain zip."""
        if self.mode == "passphrase":
            return [ScryptRecipient(self.passphrase)]
        if self.mode == "recipients":
            return list(self.all_keys)
        return []

    def describe(self) -> str:
        """For a sentence: "Encrypted with a passphrase", "Encrypted to 2 age keys"."""
        if self.mode == "passphrase":
            return "with a passphrase"
        return self.summary().removeprefix("encrypted ")

    def summary(self) -> str:
        if self.mode == "passphrase":
            return "encrypted: passphrase"
        if self.mode == "recipients":
            n = len(self.all_keys)
            return f"encrypted to {n} age key{'' if n == 1 else 's'}"
        return "not encrypted"


def unique(keys: Iterable[X25519Recipient]) -> list[X25519Recipient]:
    return list(dict.fromkeys(keys))


# --------------------------------------------------------------------------- age1 keys

_SEPARATORS = re.compile(r"[\s,;]+")
AGE_KEY_LENGTH = 62  # "age1" and 58 characters of Bech32


def parse_keys(text: str) -> tuple[list[X25519Recipient], list[str]]:
    """Keys typed or pasted: separated by spaces, commas or lines; `#` lines are comments (as in
    a recipients file). Returns the keys (duplicates dropped) and one sentence per bad one."""
    keys: list[X25519Recipient] = []
    errors: list[str] = []
    for line in text.splitlines():
        if line.lstrip().startswith("#"):
            continue
        for token in _SEPARATORS.split(line.strip()):
            if not token:
                continue
            if token.upper().startswith("AGE-SECRET-KEY-"):
                # Never echo it back: part of a secret is still a secret.
                errors.append(
                    "that is a secret key (AGE-SECRET-KEY-…): give its public key "
                    "(age1…), which `age-keygen -y KEYFILE` prints"
                )
            elif token.startswith(("ssh-", "ecdsa-")):
                errors.append("SSH keys are not supported: give an age1… key")
            elif token.lower().startswith("age1") and len(token) < AGE_KEY_LENGTH:
                shown = token if len(token) <= 16 else token[:12] + "…"
                errors.append(
                    f"{shown} is incomplete: an age1… key has {AGE_KEY_LENGTH} characters"
                )
            else:
                try:
                    keys.append(X25519Recipient.parse(token))
                except AgeError as exc:
                    errors.append(str(exc))
    return unique(keys), errors


def read_recipients_file(path: str) -> list[X25519Recipient]:
    """Raises AgeError with one sentence (missing, unreadable, a bad line)."""
    return load_recipients_file(os.path.expanduser(path))


# --------------------------------------------------------------------------- passphrase strength

# Character classes and how many symbols each adds to an attacker's alphabet.
_CLASSES: tuple[tuple[str, int], ...] = (
    ("lower-case", 26),
    ("upper-case", 26),
    ("digits", 10),
    ("symbols", 33),
    ("other", 100),
)


def _class_of(ch: str) -> str:
    if "a" <= ch <= "z":
        return "lower-case"
    if "A" <= ch <= "Z":
        return "upper-case"
    if ch.isdigit() and ch.isascii():
        return "digits"
    if ch.isascii():
        return "symbols"  # punctuation and the space between words
    return "other"


@dataclass(frozen=True)
class Strength:
    label: Literal["", "weak", "fair", "strong"]  # "" for an empty passphrase
    bits: int
    length: int
    kinds: int

    def hint(self) -> str:
        if not self.label:
            return "Type a passphrase: a few random words make a strong one."
        kinds = f"{self.kinds} kind{'' if self.kinds == 1 else 's'}"
        text = f"Strength: {self.label} (~{self.bits} bits: {self.length} characters, {kinds})"
        if self.label == "weak":
            text += ". Longer is better: try four or five random words."
        return text


def passphrase_strength(text: str) -> Strength:
    """A rough entropy estimate: length times log2 of the alphabet the classes used span, with
    repeated characters counted at a quarter (so "aaaaaaaaaaaa" is not mistaken for strong). It
    cannot know dictionary words; it is a hint, and the choice stays the user's."""
    if not text:
        return Strength("", 0, 0, 0)
    used = {_class_of(ch) for ch in text}
    pool = sum(size for name, size in _CLASSES if name in used)
    distinct = len(set(text))
    effective = distinct + (len(text) - distinct) * 0.25
    bits = int(effective * math.log2(pool))
    label: Literal["weak", "fair", "strong"]
    if len(text) < 8 or bits < 60:
        label = "weak"
    elif bits < 90:
        label = "fair"
    else:
        label = "strong"
    return Strength(label, bits, len(text), len(used))


# --------------------------------------------------------------------------- after the run


def encrypted_output(destination: str, encrypted: bool) -> str:
    """The engine names a new archive in a folder NAME.zip.age itself; a file name the user
    typed gets `.age` added, so the name always says what the file is."""
    if not encrypted or not destination or destination.endswith(".age"):
        return destination
    if os.path.isdir(os.path.expanduser(destination)):
        return destination
    return destination + ".age"


def decrypt_command(path: str, recipients: Sequence[Any]) -> str:
    """The stock age command that turns the archive back into the zip (run where it is)."""
    name = os.path.basename(path)
    plain = name[: -len(".age")] if name.endswith(".age") else name + ".zip"
    key = "" if any(isinstance(r, ScryptRecipient) for r in recipients) else "-i KEYFILE "
    return f"age -d {key}-o {shlex.quote(plain)} {shlex.quote(name)}"

"""The lock files are what is installed: every distribution in the test environment is pinned at its
version in requirements-test.lock, every pin of every lock file carries hashes, and the runtime lock
pins the packages it shares with the test lock at the same versions."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import distributions
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
TEST_LOCK = ROOT / "requirements-test.lock"
RUNTIME_LOCK = ROOT / "requirements.lock"
LOCKS = sorted(ROOT.glob("*.lock"))


@dataclass(frozen=True)
class Pin:
    name: NormalizedName
    version: Version
    hashes: tuple[str, ...]
    line: str


def _pins(path: Path) -> list[Pin]:
    """The `name==version [; marker]` entries of a lock file, with their `--hash` options."""
    pins: list[Pin] = []
    for line in path.read_text(encoding="utf-8").replace("\\\n", " ").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        words = line.split()
        hashes = tuple(word.removeprefix("--hash=") for word in words if word.startswith("--hash="))
        requirement = Requirement(" ".join(word for word in words if not word.startswith("--hash=")))
        (specifier,) = requirement.specifier
        assert specifier.operator == "==", f"{path.name}: not an exact pin: {line}"
        pins.append(Pin(canonicalize_name(requirement.name), Version(specifier.version), hashes, line))
    return pins


def test_every_installed_distribution_is_pinned_in_the_test_lock() -> None:
    pinned: dict[NormalizedName, set[Version]] = {}
    for pin in _pins(TEST_LOCK):
        pinned.setdefault(pin.name, set()).add(pin.version)
    problems: list[str] = []
    for distribution in distributions():
        name = canonicalize_name(distribution.metadata["Name"])
        if name == "chatloom":
            continue
        installed = Version(distribution.version)
        if name not in pinned:
            problems.append(f"{name} {installed} is installed but not in {TEST_LOCK.name}")
        elif installed not in pinned[name]:
            locked = ", ".join(str(each) for each in sorted(pinned[name]))
            problems.append(f"{name} {installed} is installed; {TEST_LOCK.name} pins {locked}")
    assert not problems, "\n".join(
        [*problems, "Rebuild the environment from the lock: rm -rf .venv && make install-test"]
    )


@pytest.mark.parametrize("lock", LOCKS, ids=[lock.name for lock in LOCKS])
def test_every_pin_carries_its_hashes(lock: Path) -> None:
    pins = _pins(lock)
    assert pins, f"{lock.name} pins nothing"
    unhashed = [pin.line for pin in pins if not pin.hashes]
    assert not unhashed, f"{lock.name}: pins without --hash:\n" + "\n".join(unhashed)
    malformed = [pin.line for pin in pins if not all(each.startswith("sha256:") for each in pin.hashes)]
    assert not malformed, f"{lock.name}: hashes other than sha256:\n" + "\n".join(malformed)


def test_the_runtime_lock_is_the_test_lock_s_versions() -> None:
    tested = {(pin.name, pin.version) for pin in _pins(TEST_LOCK)}
    untested = [pin.line for pin in _pins(RUNTIME_LOCK) if (pin.name, pin.version) not in tested]
    assert not untested, (
        f"{RUNTIME_LOCK.name} pins versions {TEST_LOCK.name} does not (run `make lock`):\n"
        + "\n".join(untested)
    )
    assert {"pip", "setuptools"} <= {pin.name for pin in _pins(RUNTIME_LOCK)}

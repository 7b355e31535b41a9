"""The generated secret key in var/ (no DJANGO_SECRET_KEY): made once, by an exclusive create,
so processes and threads that start together all end with the same key, kept with mode 0600."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from weatherstreams import settings as settings_module

ROOT = Path(__file__).resolve().parents[2]
RACERS = 8

# A child imports everything the settings import, says so, waits for the word, then imports the
# settings (which make or read the key): the racers reach the key within a millisecond or two.
CHILD = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, sys.argv[1])
    import dj_database_url, csp.constants, django.core.exceptions  # noqa
    import weatherstreams.derived_settings  # noqa
    print("ready", flush=True)
    sys.stdin.readline()
    from weatherstreams import settings
    print("key", settings.SECRET_KEY, flush=True)
    """
)


@pytest.fixture
def var_dir(tmp_path, monkeypatch) -> Path:
    """The settings module's var/ moved to a fresh directory, for calls made in this process."""
    found = tmp_path / "var"
    monkeypatch.setattr(settings_module, "VAR_DIR", found)
    return found


def test_processes_starting_together_all_end_with_the_first_ones_key(tmp_path):
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SECRET_KEY"}
    env["WEATHERSTREAMS_VAR_DIR"] = str(tmp_path / "var")
    racers = [
        subprocess.Popen(
            [sys.executable, "-c", CHILD, str(ROOT)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(RACERS)
    ]
    try:
        for racer in racers:
            assert racer.stdout.readline().strip() == "ready", racer.stderr.read()
        for racer in racers:  # as close together as a loop can
            racer.stdin.write("\n")
            racer.stdin.flush()
        keys = []
        for racer in racers:
            out, err = racer.communicate(timeout=60)
            assert racer.returncode == 0, err
            [line] = [line for line in out.splitlines() if line.startswith("key ")]
            keys.append(line.removeprefix("key "))
    finally:
        for racer in racers:
            if racer.poll() is None:
                racer.kill()
                racer.wait()
    key_file = tmp_path / "var" / "secret_key"
    assert len(set(keys)) == 1, keys
    assert keys[0] == key_file.read_text() and len(keys[0]) >= 50
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_threads_racing_all_get_the_key_that_was_written(var_dir):
    start = threading.Barrier(16)
    keys: list[str] = []

    def racer() -> None:
        start.wait()
        keys.append(settings_module.local_secret_key())

    threads = [threading.Thread(target=racer) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert len(keys) == 16 and len(set(keys)) == 1
    assert (var_dir / "secret_key").read_text() == keys[0]
    assert stat.S_IMODE((var_dir / "secret_key").stat().st_mode) == 0o600


def test_a_key_already_there_is_kept(var_dir):
    var_dir.mkdir()
    (var_dir / "secret_key").write_text("an-earlier-key-with-its-newline\n")
    assert settings_module.local_secret_key() == "an-earlier-key-with-its-newline"


def test_a_reader_waits_for_the_creator_to_write_the_key(var_dir):
    var_dir.mkdir()
    key_file = var_dir / "secret_key"
    key_file.touch(mode=0o600)  # created, not yet written: the window a racer may see

    def write_later() -> None:
        time.sleep(0.2)
        key_file.write_text("written-a-moment-later")

    writer = threading.Thread(target=write_later)
    writer.start()
    try:
        assert settings_module.local_secret_key() == "written-a-moment-later"
    finally:
        writer.join()


def test_a_key_file_left_empty_is_refused_with_what_to_do(var_dir, monkeypatch):
    monkeypatch.setattr(settings_module, "SECRET_KEY_WAIT_SECONDS", 0.05)
    var_dir.mkdir()
    (var_dir / "secret_key").touch()
    with pytest.raises(ImproperlyConfigured, match="delete it to have a new key made, or set DJANGO_SECRET_KEY"):
        settings_module.local_secret_key()

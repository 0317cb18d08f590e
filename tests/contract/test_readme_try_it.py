"""README's "Try it without a provider key" block, run as written against a live server.

Only addresses change: the server's port instead of 8000, a free port for the fake LLM instead of 9100,
and this interpreter's environment instead of `.venv/bin/`.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

from tests.support.server import ServerThread, free_port

ROOT = Path(__file__).resolve().parents[2]


def try_it_block() -> str:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("### Try it without a provider key", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the section has no ```sh block"
    return found.group(1)


def test_fake_llm_help_names_its_port() -> None:
    shown = subprocess.run(
        [sys.executable, "-m", "chatloom.testing.fake_llm", "--help"],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    assert "--port" in shown.stdout


@pytest.mark.skipif(shutil.which("curl") is None, reason="the README block uses curl")
def test_readme_block_chats_with_the_fake_llm(server: ServerThread, tmp_path: Path) -> None:
    block = try_it_block()
    fake_port = free_port()
    script = (
        block.replace("localhost:8000", f"127.0.0.1:{server.port}")
        .replace("9100", str(fake_port))
        .replace(".venv/bin/", f"{Path(sys.executable).parent}/")
    )
    env = {**os.environ, "CHATLOOM_DATABASE_URL": server.settings.database_url}
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    # Files, not pipes: the fake LLM the block leaves running in the background keeps its output open.
    with out.open("w") as stdout_file, err.open("w") as stderr_file:
        process = subprocess.Popen(
            ["bash", "-c", script],
            cwd=ROOT,
            env=env,
            stdout=stdout_file,
            stderr=stderr_file,
            start_new_session=True,
        )
        try:
            process.wait(timeout=60)
        finally:
            with contextlib.suppress(ProcessLookupError):  # the block's process group: the fake LLM
                os.killpg(process.pid, signal.SIGTERM)
    stdout, stderr = out.read_text(), err.read_text()
    assert f"fake LLM serving at http://127.0.0.1:{fake_port}/v1" in stdout, (stdout, stderr)
    chat = orjson.loads(stdout.strip().splitlines()[-1])
    assert chat["output"] == [{"role": "assistant", "content": "You said: Hello!"}], chat

"""Real processes for tests: start a command with its environment and a log file,
wait until it answers over HTTP or says a line, and stop it (TERM, then KILL)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


@dataclass
class Process:
    name: str
    popen: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.popen.poll() is None

    def wait_http(self, url: str, seconds: float = 60, ok: Callable[[int], bool] | None = None
                  ) -> None:
        """Until ``url`` answers (200 unless ``ok`` says otherwise)."""
        accept = ok or (lambda status: status == 200)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            self._check_running()
            try:
                if accept(httpx.get(url, timeout=2).status_code):
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not answer {url} in {seconds} s:\n"
                             f"{self.output()[-3000:]}")

    def wait_output(self, text: str, seconds: float = 60) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if text in self.output():
                return
            self._check_running()
            time.sleep(0.2)
        raise AssertionError(f"{self.name} did not print {text!r} in {seconds} s:\n"
                             f"{self.output()[-3000:]}")

    def wait_exit(self, seconds: float) -> int:
        try:
            return self.popen.wait(seconds)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {seconds} s:\n"
                                 f"{self.output()[-3000:]}") from None

    def stop(self, seconds: float = 20) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(seconds)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()

    def _check_running(self) -> None:
        if self.popen.poll() is not None:
            raise AssertionError(f"{self.name} exited with {self.popen.returncode}:\n"
                                 f"{self.output()[-3000:]}")


@contextmanager
def running(processes: list[Process], grace_s: float = 20) -> Iterator[list[Process]]:
    """Stop every process of ``processes`` (which may grow meanwhile) on the way out,
    last started first, each given ``grace_s`` after SIGTERM."""
    try:
        yield processes
    finally:
        for process in reversed(processes):
            process.stop(grace_s)


def start(name: str, command: Sequence[str], env: Mapping[str, str], log_dir: Path,
          cwd: Path | None = None) -> Process:
    """``command`` with exactly ``env`` on top of this process's PATH (its interpreter's
    scripts first, so ``boom-flow`` and ``dask`` are this installation's), PYTHONPATH
    and HOME."""
    log = log_dir / f"{name}.log"
    base = {key: os.environ[key] for key in ("PYTHONPATH", "HOME") if key in os.environ}
    base["PATH"] = os.pathsep.join([str(Path(sys.executable).parent),
                                    os.environ.get("PATH", "")])
    with log.open("w") as handle:
        popen = subprocess.Popen(list(command), env={**base, **env}, stdout=handle,
                                 stderr=subprocess.STDOUT, cwd=cwd)
    return Process(name, popen, log)

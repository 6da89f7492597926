"""Where a cluster's processes spend their time during one benchmark phase: py-spy and /proc.

For every phase it is asked to profile, `Profiler` starts one `py-spy record` per server process
(`--subprocesses`, so uvicorn workers are included; `--nonblocking`, so the targets are not paused
while sampled), waits until each is sampling, lets the phase run, then stops them with SIGINT, which
makes py-spy write its file. Output, per phase, in `DIR/<phase>/`:

  <process>.json|.svg|.txt   speedscope, flamegraph or raw (collapsed stacks) file per process
  <process>.log              py-spy's own output (why a profile is missing, if one is)
  summary.txt                CPU seconds per process over the phase (from /proc, as measured by the
                             benchmark), and per role the functions with the most samples of their
                             own, from the speedscope or raw files

py-spy needs ptrace rights over the targets (root, or CAP_SYS_PTRACE in a container). Sampling ~17
processes costs CPU on a small machine: a profiled phase's figures are marked and are not figures
to compare.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import signal
import sys
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from s3_endpoint import ServerProcess

REPO = Path(__file__).resolve().parents[1]
EXTENSIONS = {"speedscope": "json", "flamegraph": "svg", "raw": "txt"}
START_TIMEOUT_S = 20.0
STOP_TIMEOUT_S = 60.0
POLL_S = 0.1
TOP_FRAMES = 15


def find_py_spy() -> str | None:
    """The py-spy next to this Python (the venv's), else on PATH."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else shutil.which("py-spy")


class Profiler:
    """py-spy record on each of `processes` during the phases `select` names (a phase or workload)."""

    def __init__(
        self, processes: Sequence[ServerProcess], out_dir: Path, select: str, rate: int, fmt: str
    ) -> None:
        py_spy = find_py_spy()
        if py_spy is None:
            raise RuntimeError("py-spy not found: pip install py-spy (it is in the bench extra)")
        self.py_spy = py_spy
        self.processes = tuple(processes)
        self.out_dir = out_dir
        self.select = select
        self.rate = rate
        self.fmt = fmt
        self._running: list[tuple[ServerProcess, asyncio.subprocess.Process]] = []
        self._phase_dir = out_dir

    def wants(self, phase: str, workload: str) -> bool:
        return self.select in (phase, workload)

    async def start(self, phase: str) -> None:
        self._phase_dir = self.out_dir / phase
        self._phase_dir.mkdir(parents=True, exist_ok=True)
        for proc in self.processes:
            output = self._phase_dir / f"{proc.name}.{EXTENSIONS[self.fmt]}"
            command = ["record", "--pid", str(proc.pid), "--rate", str(self.rate), "--format", self.fmt]
            command += ["--output", str(output), "--subprocesses", "--nonblocking"]
            with (self._phase_dir / f"{proc.name}.log").open("wb") as log:
                spy = await asyncio.create_subprocess_exec(
                    self.py_spy,
                    *command,
                    stdout=log,
                    stderr=asyncio.subprocess.STDOUT,
                    stdin=asyncio.subprocess.DEVNULL,
                )
            self._running.append((proc, spy))
        waiting = list(self._running)
        for _ in range(int(START_TIMEOUT_S / POLL_S)):
            waiting = [(p, spy) for p, spy in waiting if spy.returncode is None and not self._sampling(p)]
            if not waiting:
                break
            await asyncio.sleep(POLL_S)
        for proc, spy in self._running:
            if spy.returncode is not None:
                print(
                    f"  py-spy for {proc.name} exited: see {self._phase_dir / proc.name}.log", file=sys.stderr
                )

    def _sampling(self, proc: ServerProcess) -> bool:
        with contextlib.suppress(OSError):
            return b"Sampling process" in (self._phase_dir / f"{proc.name}.log").read_bytes()
        return False

    async def stop(self, cpu_by_process: dict[str, float]) -> None:
        """Stop every py-spy (SIGINT makes it write its file) and write summary.txt."""
        running, self._running = self._running, []
        for _, spy in running:
            if spy.returncode is None:
                spy.send_signal(signal.SIGINT)
        for proc, spy in running:
            try:
                await asyncio.wait_for(spy.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                print(f"  py-spy for {proc.name} did not stop: killed, no profile", file=sys.stderr)
                spy.kill()
                await spy.wait()
        self.write_summary(cpu_by_process)

    def write_summary(self, cpu_by_process: dict[str, float]) -> None:
        lines = ["CPU seconds per process over the phase (/proc/<pid>/stat; descendants as name.pid):"]
        total = sum(cpu_by_process.values()) or 1.0
        for name, seconds in sorted(cpu_by_process.items(), key=lambda kv: -kv[1]):
            lines.append(f"  {seconds:8.2f} s  {100 * seconds / total:5.1f}%  {name}")
        roles: dict[str, Stacks] = {}
        for proc in self.processes:
            stacks = read_stacks(self._phase_dir / f"{proc.name}.{EXTENSIONS[self.fmt]}", self.fmt)
            roles.setdefault(proc.role, Counter()).update(stacks)
        for role, stacks in roles.items():
            samples = sum(stacks.values())
            if not samples:
                continue
            innermost: Counter[str] = Counter()
            ours: Counter[str] = Counter()
            for stack, count in stacks.items():
                innermost[stack[-1]] += count
                for frame in {f.rsplit(":", 1)[0] + ")" for f in stack if _is_ours(f)}:  # per function
                    ours[frame] += count
            lines += ["", f"{role}: {samples} samples; innermost frames (waits in C show up here too):"]
            lines += [
                f"  {100 * n / samples:5.1f}%  {frame}" for frame, n in innermost.most_common(TOP_FRAMES)
            ]
            lines += [f"{role}: this repository's functions, counting time in their callees:"]
            lines += [f"  {100 * n / samples:5.1f}%  {frame}" for frame, n in ours.most_common(TOP_FRAMES)]
        (self._phase_dir / "summary.txt").write_text("\n".join(lines) + "\n")


#: Sampled stacks (root first, frames as "function (file:line)") and how many samples each got.
Stacks = Counter[tuple[str, ...]]


def _is_ours(frame: str) -> bool:
    return f"({REPO}/" in frame and "/site-packages/" not in frame and "/.venv/" not in frame


def read_stacks(path: Path, fmt: str) -> Stacks:
    """The stacks of a py-spy speedscope or raw file (empty if absent or a flamegraph)."""
    stacks: Stacks = Counter()
    if not path.exists():
        return stacks
    if fmt == "speedscope":
        doc = json.loads(path.read_text())
        frames = [f"{f['name']} ({f.get('file', '?')}:{f.get('line', '?')})" for f in doc["shared"]["frames"]]
        for profile in doc["profiles"]:
            for stack in profile["samples"]:  # root first; "weights" are seconds, one sample each
                if stack:
                    stacks[tuple(frames[i] for i in stack)] += 1
    elif fmt == "raw":
        for line in path.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if stack and count.isdigit():
                stacks[tuple(stack.split(";"))] += int(count)
    return stacks

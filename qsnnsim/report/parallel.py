"""Drawing a report's figures on two processes: the report stage's one use of parallelism.

A report's figures are independent PNGs, each a few tenths of a second of matplotlib work
(layout, text, rasterising, PNG encoding), all of it holding the GIL. :func:`share_figures`
takes the report's figure list, ``(file name, caption, draw(path))`` in the order the writer
calls them, and returns the same list with each ``draw`` wrapped: on the first call, a forked
child process starts drawing the tail of the list into the same folder while this process
draws the head; a call for a figure of the tail waits for the child. The writer's contract
is unchanged (it calls every ``draw(path)``, then reads the files); so is every figure.

When the child fails (an exception, a crash, a killed process, or no exit within
:data:`CHILD_TIMEOUT_S`, after which it is killed) or the platform cannot fork safely, the
figures are drawn here, one after another, so an error surfaces with its traceback as it
would without the child. A figure is never drawn by both processes into the same file at
once: this process draws a tail figure only after the child has exited.

Forking is safe here when no other thread can hold a lock the child needs. Non-daemon
threads (someone else's work) prevent the fork; daemon threads are tolerated, as the CLI's
progress spinner is one: it only waits on its own event and writes to stderr, and the child
never touches the parent's standard streams (it swaps them for ``os.devnull`` at once) and
leaves with ``os._exit``.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time

#: Relative cost of drawing each figure (seconds on one EPYC core, 2026-12-07), by file-name
#: prefix; used only to split the list in two halves of about equal time.
FIGURE_COST = {
    "timeline_": 0.50, "noc_links": 0.42, "sram_": 0.35, "core_utilisation": 0.30, "energy_layers": 0.25,
    "sample_distributions": 0.20, "paper_estimate": 0.17, "energy_components": 0.15, "firing_rates": 0.15,
    "model_size": 0.11,
}
_DEFAULT_COST = 0.25


def figure_cost(name: str) -> float:
    return next((c for prefix, c in FIGURE_COST.items() if name.startswith(prefix)), _DEFAULT_COST)


#: Seconds the child may take before it is killed and its figures drawn here instead.
CHILD_TIMEOUT_S = 120.0


def can_fork() -> bool:
    """A fork is safe here: Linux, and every other live thread is a daemon (see the module doc)."""
    if not (sys.platform.startswith("linux") and hasattr(os, "fork")):
        return False
    current = threading.current_thread()
    return all(t is current or t.daemon for t in threading.enumerate())


class _Shared:
    """The state the wrapped draws share: which figures the child draws, and the child."""

    def __init__(self, figures: list[tuple]):
        self.figures = figures
        total = sum(figure_cost(name) for name, _, _ in figures)
        # The head (drawn here, in the writer's order) holds about half the cost; the child
        # takes the rest, so both finish at about the same time.
        head, acc = 0, 0.0
        while head < len(figures) and acc + figure_cost(figures[head][0]) / 2 <= total / 2:
            acc += figure_cost(figures[head][0])
            head += 1
        self.tail = {name for name, _, _ in figures[max(head, 1):]}
        self.folder = None
        self.pid = None
        self.child_ok = None

    def start(self, folder: str) -> None:
        """Fork the child that draws the tail into ``folder`` (once, on the first draw)."""
        self.folder = folder
        if not self.tail or not can_fork():
            self.child_ok = False
            return
        from qsnnsim.report.plots import load_matplotlib

        load_matplotlib()  # once, before the fork: the child inherits it instead of importing it again
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:  # the child: draw the tail, then leave without running this process's exit code
            status = 1
            try:
                sys.stdout = sys.stderr = open(os.devnull, "w")  # never the parent's streams or their locks
                for name, _, draw in self.figures:
                    if name in self.tail:
                        draw(os.path.join(folder, name))
                status = 0
            except BaseException:  # noqa: BLE001 - any failure: the parent draws these figures itself
                pass
            finally:
                os._exit(status)
        self.pid = pid
        self.deadline = time.monotonic() + CHILD_TIMEOUT_S

    def wait(self) -> bool:
        """Wait for the child (once); True when it drew every tail figure."""
        if self.child_ok is None:
            while True:
                done, status = os.waitpid(self.pid, os.WNOHANG)
                if done:
                    break
                if time.monotonic() > self.deadline:
                    os.kill(self.pid, signal.SIGKILL)
                    _, status = os.waitpid(self.pid, 0)
                    break
                time.sleep(0.005)
            self.child_ok = os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
        return self.child_ok

    def __del__(self):
        # A writer that stopped early (an error in another figure) still reaps the child.
        if self.pid is not None and self.child_ok is None:
            try:
                self.wait()
            except OSError:
                pass


def share_figures(figures: list[tuple]) -> list[tuple]:
    """The figure list with every ``draw`` wrapped to run on two processes (see the module doc).

    Parameters
    ----------
    figures : list of (str, str, callable)
        ``(file name, caption, draw(path) -> path)``, in the order the writer draws them.

    Returns
    -------
    list of (str, str, callable)
        The same names and captions; each callable draws (or waits for) its figure at ``path``.
    """
    if len(figures) < 2:
        return list(figures)
    shared = _Shared(list(figures))

    def wrapped(name, draw):
        def run(path: str) -> str:
            if shared.folder is None:
                shared.start(os.path.dirname(path))
            in_child = name in shared.tail and shared.pid is not None
            if in_child and shared.wait() and path == os.path.join(shared.folder, name) and os.path.exists(path):
                return path
            return draw(path)

        return run

    return [(name, caption, wrapped(name, draw)) for name, caption, draw in figures]

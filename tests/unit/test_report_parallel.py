"""Figures drawn on two processes (qsnnsim/report/parallel.py): every file drawn once, by the
writer's calls, whichever process drew it; a failing child leaves the figures to this process."""

from __future__ import annotations

import os
import threading

import pytest

from qsnnsim.report.parallel import can_fork, share_figures


def _writer(name: str):
    """A draw that writes the drawing process's id into the file (the real draws are PNGs)."""

    def draw(path: str) -> str:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(f"{name} {os.getpid()}")
        return path

    return draw


_NAMES = ["energy_components.png", "paper_estimate.png", "energy_layers.png", "timeline_sample0.png",
          "noc_links.png", "model_size.png"]


def _draw_all(figures, folder) -> dict:
    """What the report writer does: every draw in order, then read the files."""
    for name, _, draw in figures:
        assert draw(os.path.join(folder, name)) == os.path.join(folder, name)
    return {name: open(os.path.join(folder, name), encoding="utf-8").read().split() for name in _NAMES}


def test_every_figure_is_drawn_once_and_the_tail_by_a_child(tmp_path):
    figures = share_figures([(n, f"caption {n}", _writer(n)) for n in _NAMES])
    assert [(n, c) for n, c, _ in figures] == [(n, f"caption {n}") for n in _NAMES]
    drawn = _draw_all(figures, tmp_path)
    assert all(drawn[n][0] == n for n in _NAMES)
    pids = [int(drawn[n][1]) for n in _NAMES]
    assert pids[0] == os.getpid()  # the head is drawn here, in the writer's order
    if can_fork():
        assert pids[-1] != os.getpid()  # the tail by the child
        assert len(set(pids)) == 2


def test_a_failing_child_leaves_the_figures_to_this_process(tmp_path):
    parent = os.getpid()

    def fails_in_child(path: str) -> str:
        if os.getpid() != parent:
            raise RuntimeError("child failure")
        return _writer("model_size.png")(path)

    figures = [(n, "", _writer(n)) for n in _NAMES[:-1]] + [("model_size.png", "", fails_in_child)]
    drawn = _draw_all(share_figures(figures), tmp_path)
    assert drawn["model_size.png"] == ["model_size.png", str(parent)]


def test_an_error_in_a_figure_surfaces_here(tmp_path):
    def broken(path: str) -> str:
        raise ValueError("broken figure")

    figures = share_figures([(n, "", _writer(n)) for n in _NAMES[:-1]] + [("model_size.png", "", broken)])
    with pytest.raises(ValueError, match="broken figure"):
        for name, _, draw in figures:
            draw(os.path.join(tmp_path, name))


def test_no_fork_while_another_thread_runs(tmp_path):
    stop = threading.Event()
    worker = threading.Thread(target=stop.wait)
    worker.start()
    try:
        assert not can_fork()
        drawn = _draw_all(share_figures([(n, "", _writer(n)) for n in _NAMES]), tmp_path)
    finally:
        stop.set()
        worker.join()
    assert {drawn[n][1] for n in _NAMES} == {str(os.getpid())}


def test_a_daemon_thread_such_as_a_spinner_does_not_prevent_the_fork(tmp_path):
    stop = threading.Event()
    spinner = threading.Thread(target=stop.wait, daemon=True)
    spinner.start()
    try:
        forks = can_fork()
        drawn = _draw_all(share_figures([(n, "", _writer(n)) for n in _NAMES]), tmp_path)
    finally:
        stop.set()
        spinner.join()
    if forks:
        assert drawn[_NAMES[-1]][1] != str(os.getpid())


def test_a_child_that_hangs_is_killed_and_its_figures_drawn_here(tmp_path, monkeypatch):
    import time

    from qsnnsim.report import parallel

    monkeypatch.setattr(parallel, "CHILD_TIMEOUT_S", 0.5)
    parent = os.getpid()

    def hangs_in_child(path: str) -> str:
        while os.getpid() != parent:
            time.sleep(1)
        return _writer("model_size.png")(path)

    figures = [(n, "", _writer(n)) for n in _NAMES[:-1]] + [("model_size.png", "", hangs_in_child)]
    drawn = _draw_all(share_figures(figures), tmp_path)
    assert drawn["model_size.png"] == ["model_size.png", str(parent)]

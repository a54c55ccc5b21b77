"""The output folder keeps every write and delete inside it (issue: security, item 1 and 4)."""

from __future__ import annotations

import os
import stat
import time

import pytest

from qsnnsim.errors import InputError
from qsnnsim.report.folder import MANIFEST, STAGE_PREFIX, OutputFolder


def _stage_with(folder: OutputFolder, files: dict) -> str:
    stage = folder.stage()
    for rel, text in files.items():
        path = os.path.join(stage, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)
    return stage


REPORT = {"report.md": "md", "report.html": "html", "figures/a.svg": "svg", "tables/t.csv": "csv",
          "result.json": "{}"}


def test_a_commit_writes_the_files_and_a_manifest_with_its_run_id(tmp_path):
    out = tmp_path / "run"
    with OutputFolder(str(out)) as folder:
        paths = folder.commit(_stage_with(folder, REPORT), "abc123")
    assert [os.path.relpath(p, out) for p in paths] == ["report.html", "report.md", "figures/a.svg",
                                                        "tables/t.csv", "result.json"]
    manifest = (out / MANIFEST).read_text().splitlines()
    assert manifest[0] == "# qsnnsim output files, run abc123"
    assert sorted(manifest[1:]) == sorted(REPORT)
    assert not [n for n in os.listdir(out) if n.startswith(STAGE_PREFIX)]


def test_a_symlinked_figures_folder_is_refused_before_any_work(tmp_path):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "important.txt").write_text("keep me")
    out = tmp_path / "received"
    out.mkdir()
    os.symlink(elsewhere, out / "figures")
    (out / MANIFEST).write_text("report.md\nfigures/important.txt\n")
    with pytest.raises(InputError, match=r"received: figures: is a symbolic link"):
        OutputFolder(str(out)).open()
    assert (elsewhere / "important.txt").read_text() == "keep me"
    assert os.listdir(elsewhere) == ["important.txt"]


@pytest.mark.parametrize("entry", ["../outside.txt", "figures/../../outside.txt", "/tmp/outside.txt",
                                   "figures/sub/outside.txt", "tables/..", "report.md/../../outside.txt"])
def test_a_hostile_manifest_never_deletes_outside_the_folder(tmp_path, entry):
    victim = tmp_path / "outside.txt"
    victim.write_text("keep me")
    out = tmp_path / "a" / "b"
    (out / "figures" / "sub").mkdir(parents=True)
    (out / "figures" / "sub" / "outside.txt").write_text("keep me too")
    (out / MANIFEST).write_text(f"{entry}\n")
    with OutputFolder(str(out)) as folder:
        folder.commit(_stage_with(folder, REPORT), "r1")
    assert victim.read_text() == "keep me"
    assert (out / "figures" / "sub" / "outside.txt").read_text() == "keep me too"


def test_a_manifest_entry_that_is_a_link_is_not_followed(tmp_path):
    victim = tmp_path / "victim.svg"
    victim.write_text("keep me")
    out = tmp_path / "run"
    (out / "figures").mkdir(parents=True)
    os.symlink(victim, out / "figures" / "old.svg")
    (out / MANIFEST).write_text("figures/old.svg\n")
    with OutputFolder(str(out)) as folder:
        folder.commit(_stage_with(folder, REPORT), "r1")
    assert victim.read_text() == "keep me"
    assert os.path.islink(out / "figures" / "old.svg")  # not ours: left alone


def test_a_staged_file_replaces_a_planted_link_instead_of_writing_through_it(tmp_path):
    victim = tmp_path / "victim.md"
    victim.write_text("keep me")
    out = tmp_path / "run"
    out.mkdir()
    os.symlink(victim, out / "report.md")
    with OutputFolder(str(out)) as folder:
        folder.commit(_stage_with(folder, REPORT), "r1")
    assert victim.read_text() == "keep me"
    assert not os.path.islink(out / "report.md") and (out / "report.md").read_text() == "md"


def test_files_the_previous_run_wrote_and_this_one_does_not_are_removed(tmp_path):
    out = tmp_path / "run"
    with OutputFolder(str(out)) as folder:
        folder.commit(_stage_with(folder, {**REPORT, "figures/old.svg": "x"}), "r1")
    (out / "figures" / "mine.svg").write_text("a user's own file")
    with OutputFolder(str(out)) as folder:
        folder.commit(_stage_with(folder, {"result.json": "{}"}), "r2")
    assert sorted(os.listdir(out / "figures")) == ["mine.svg"]
    assert not (out / "report.md").exists()  # a new result never sits beside an older run's report
    assert (out / MANIFEST).read_text().splitlines() == ["# qsnnsim output files, run r2", "result.json"]


def test_a_second_run_into_a_busy_folder_is_refused(tmp_path):
    out = str(tmp_path / "run")
    with OutputFolder(out):
        with pytest.raises(InputError, match="another qsnnsim run is writing into this folder"):
            OutputFolder(out).open()
    with OutputFolder(out):  # released
        pass


def test_stages_left_by_a_killed_run_are_removed_by_the_next(tmp_path):
    out = tmp_path / "run"
    (out / f"{STAGE_PREFIX}dead" / "figures").mkdir(parents=True)
    (out / f"{STAGE_PREFIX}dead" / "figures" / "x.svg").write_text("x")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "keep.txt").write_text("keep")
    os.symlink(elsewhere, out / f"{STAGE_PREFIX}link")
    with OutputFolder(str(out)):
        pass
    assert not (out / f"{STAGE_PREFIX}dead").exists()
    assert (elsewhere / "keep.txt").read_text() == "keep"


def test_a_stage_is_removed_when_the_run_fails(tmp_path):
    out = tmp_path / "run"
    with pytest.raises(RuntimeError):
        with OutputFolder(str(out)) as folder:
            _stage_with(folder, REPORT)
            raise RuntimeError("drawing failed")
    assert os.listdir(out) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_an_unwritable_folder_is_one_line(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(stat.S_IRUSR | stat.S_IXUSR)
    with pytest.raises(InputError, match="cannot be written"):
        OutputFolder(str(out)).open()


def test_a_folder_whose_parent_is_not_writable_still_works(tmp_path):
    # Staging happens inside the output folder, never in its parent.
    parent = tmp_path / "parent"
    out = parent / "run"
    out.mkdir(parents=True)
    parent.chmod(stat.S_IRUSR | stat.S_IXUSR)
    try:
        with OutputFolder(str(out)) as folder:
            folder.commit(_stage_with(folder, REPORT), "r1")
        assert (out / "report.md").read_text() == "md"
    finally:
        parent.chmod(stat.S_IRWXU)


def test_a_forked_child_does_not_keep_the_folder_locked(tmp_path):
    # A child forked while the folder is open (by the program holding it, or a library it
    # calls): when the parent goes (killed), the lock must go with it, not live on in the child.
    out = str(tmp_path / "run")
    folder = OutputFolder(out)
    folder.open()
    ready_r, ready_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child outlives the parent's hold on the folder
        os.write(ready_w, b"x")
        time.sleep(3)
        os._exit(0)
    os.read(ready_r, 1)  # the child is running (its fork hooks have run)
    os.close(ready_r)
    os.close(ready_w)
    try:
        folder.close()  # as the parent's death would
        with OutputFolder(out):  # the child still runs, and the folder is free
            pass
    finally:
        os.kill(pid, 9)
        os.waitpid(pid, 0)

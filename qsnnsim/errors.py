"""Input errors: every bad file becomes one line naming the file, the field, the problem and the fix.

The CLI alone turns an :class:`InputError` into that line on stderr and exit status 2;
library code raises and never prints or exits.
"""

from __future__ import annotations

#: An error line is cut to this many characters (a hostile value can be megabytes long).
MAX_LINE_CHARS = 1000


class InputError(Exception):
    """A problem with a file the user gave us (workload, architecture, result JSON).

    Parameters
    ----------
    file : str
        Path of the offending file as the user wrote it.
    field : str
        Dotted path of the field or entry inside the file ("" for the whole file).
    problem : str
        What is wrong, with the value found where it helps.
    fix : str
        What the user can do about it ("" if nothing obvious).
    """

    def __init__(self, file: str, field: str, problem: str, fix: str = ""):
        self.file = str(file)
        self.field = field
        self.problem = problem
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        parts = [self.file]
        if self.field:
            parts.append(self.field)
        text = ": ".join(parts) + ": " + self.problem
        if self.fix:
            text += f" ({self.fix})"
        # One line, always: a multi-line numpy/zip message must not leak through, and text
        # from a hostile file (escape sequences, lone surrogates) is shown escaped.
        from qsnnsim._guard import escape_text

        text = escape_text(" ".join(text.split()))
        if len(text) > MAX_LINE_CHARS:
            text = text[: MAX_LINE_CHARS - 3] + "..."
        return text


class WorkloadError(InputError):
    """A workload (.npz) that cannot be loaded or is inconsistent."""


class ArchError(InputError):
    """An architecture (.yaml) that cannot be loaded or is inconsistent."""


class MappingError(InputError):
    """A workload that cannot be mapped onto an architecture."""


class ResultError(InputError):
    """A run result (.json) that cannot be read back for reporting."""


class NirImportError(InputError):
    """A NIR file (or its sample file) that cannot be imported: a node, shape or parameter
    qsnnsim cannot make integer, named with the fix."""


class DeadlockError(Exception):
    """A pass stopped with slices that had not fired every timestep (docs/timing-model.md §10.4).

    Not expected to occur (the timing doc proves every option deadlock-free); it turns a bug
    into one line naming the cycle, the waiting slices and the held links rather than a hang.
    The CLI reports it like an input error: one line, exit status 2.
    """

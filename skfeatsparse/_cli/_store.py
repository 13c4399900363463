"""results.json that survives: every finished row is written at once, atomically.

A :class:`Run` holds the record of one command (its arguments, the settings
of each study, the finished studies and the rows of the one in progress)
and rewrites ``results.json`` and ``report.html`` after each finished row:
each to a temporary file in the same folder, then ``os.replace`` (a reader
never sees half a file; an interrupted run keeps what it finished).
``--resume`` reloads the record and each study skips the rows it holds.
"""

import json
import os
import tempfile
import time

RESULTS = "results.json"
REPORT = "report.html"
# Arguments that say where and how to write, not what to compute.
_NOT_COMPARED = ("out_dir", "resume", "force")


class ResumeError(Exception):
    """The stored run cannot be continued with these arguments."""


def write_atomic(path, text):
    """Write ``text`` to ``path`` through a temporary file in the same folder."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _roundtrip(value):
    """``value`` as it reads back from JSON (tuples become lists, ...)."""
    return json.loads(json.dumps(value, default=float))


def _differences(stored, wanted, prefix=""):
    keys = sorted(set(stored) | set(wanted))
    found = []
    for key in keys:
        old, new = stored.get(key), wanted.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            found += _differences(old, new, f"{prefix}{key}.")
        elif old != new:
            found.append(
                f"{prefix}{key} {json.dumps(old)} there, {json.dumps(new)} now"
            )
    return found


class Run:
    """The record of one command, saved to ``out / results.json`` after each row.

    ``render`` turns the record into the HTML report (written beside it).
    """

    def __init__(self, out, record, render=None):
        self.out = out
        self.record = record
        self.render = render
        record.setdefault("times", {})
        record.setdefault("partial", {})
        self.n_layers = {}  # per model: its rows in Figure 3 (set by the checks)

    @classmethod
    def start(cls, out, command, arguments, settings, render=None, *, resume=False):
        """A new record, or with ``resume`` the stored one (same arguments only)."""
        arguments = {k: v for k, v in arguments.items() if k not in _NOT_COMPARED}
        wanted = _roundtrip(
            {"command": command, "arguments": arguments, "settings": settings}
        )
        path = out / RESULTS
        if resume and path.exists():
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
                stored = {key: record[key] for key in wanted}
            except (OSError, ValueError, KeyError, TypeError) as error:
                raise ResumeError(
                    f"--resume: cannot read the run stored in {path} ({error}); "
                    "use --force to start over"
                ) from None
            differ = _differences(stored, wanted)
            if differ:
                raise ResumeError(
                    f"--resume: {path} holds a run with other settings ("
                    + "; ".join(differ)
                    + "): rerun with its arguments, or use --force to start over"
                )
            record["resumed"] = record.get("resumed", 0) + 1
            record["complete"] = False
            return cls(out, record, render)
        return cls(out, {**wanted, "complete": False}, render)

    # ----------------------------------------------------------------- parts
    def finished(self, study):
        """The stored result of ``study`` if it finished, else None."""
        return self.record.get(study)

    def part(self, study):
        """The state of ``study`` in progress (rows finished so far, time spent)."""
        state = self.record["partial"].setdefault(study, {"time": 0.0})
        return Part(self, study, state)

    def finish(self, study, result):
        self.record[study] = result
        self.record["times"][study] = result["time"]
        self.record["partial"].pop(study, None)
        self.save()

    def complete(self, versions):
        times = self.record["times"]
        times.pop("total", None)
        self.record["time"] = times["total"] = sum(times.values())
        self.record["partial"] = {}
        self.record["complete"] = True
        self.save(versions)

    def save(self, versions=None):
        if versions is not None:
            self.record["versions"] = versions
        write_atomic(
            self.out / RESULTS, json.dumps(self.record, indent=2, default=float)
        )
        if self.render is not None:
            write_atomic(self.out / REPORT, self.render(self.record, self.out))


class Part:
    """One study in progress: its rows so far, saved with the run after each."""

    def __init__(self, run, name, state):
        self.run = run
        self.name = name
        self.state = state
        self._since = time.perf_counter()

    def elapsed(self):
        """Seconds spent on this study, earlier (interrupted) sessions included."""
        return self.state["time"] + time.perf_counter() - self._since

    def save(self):
        self.state["time"] = self.elapsed()
        self._since = time.perf_counter()
        self.run.save()

"""The grader's own errors: one root, messages that say what to do next.

Everything that goes wrong *with a submission* is a result (a finding, a failed item),
never one of these. These are for when the grader itself cannot work: a bad rubric,
an unreadable path, a broken installation. Only the CLI edge turns them into exit codes.
"""


class GraderError(Exception):
    """The grader could not do its job (not the student's fault)."""

    exit_code = 2


class RubricError(GraderError):
    """A rubric file is missing, malformed or fails its schema."""

    def __init__(self, file, path, message):
        self.file = str(file)
        self.path = path  # YAML path like "items[3].check.kind", or "" for the whole file
        self.detail = message
        where = f"{self.file}" + (f" at {path}" if path else "")
        super().__init__(f"{where}: {message}")


class UsageError(GraderError):
    """The command line names something that does not exist or cannot be read."""

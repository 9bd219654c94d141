"""The BIDS validator as a real client: run it on a folder, read its issues.

``bids-validator-deno`` (a test dependency) is the schema-based BIDS validator: a JavaScript
bundle that its Python wheel runs on the ``deno`` runtime, which the ``deno`` wheel ships. Both
come from PyPI, and the bundle carries the BIDS schema, so a run needs no network. It is run as
``bids-validator-deno FOLDER --format json`` (from the same environment as this Python); the JSON
lists every issue with its code, severity and file.

    result = validate(folder)
    result.errors            # {"STIMULUS_FILE_MISSING": {"sub-01/func/...events.tsv", ...}}
    result.error_codes       # {"STIMULUS_FILE_MISSING", ...}
    new = result.new_errors(validate(source))   # the codes ``folder`` has and ``source`` has not

When it cannot run (not installed, no runtime for this platform), ``unavailable_reason()`` says
why, and the ``bids_validator`` fixture skips with that reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

COMMAND = "bids-validator-deno"
TIMEOUT = 300  # seconds for one dataset; the largest example takes a few


class ValidatorError(RuntimeError):
    """The validator ran but gave no readable result (crashed, timed out, printed no JSON)."""


@dataclass(frozen=True)
class Issue:
    code: str
    severity: str  # "error", "warning" or "ignore"
    location: str  # relative to the dataset folder ("" for the dataset as a whole)
    sub_code: str = ""


@dataclass(frozen=True)
class Validation:
    folder: Path
    issues: tuple[Issue, ...]

    def by_code(self, severity: str) -> dict[str, set[str]]:
        """Issue code -> the files it names, for one severity."""
        found: dict[str, set[str]] = {}
        for issue in self.issues:
            if issue.severity == severity:
                found.setdefault(issue.code, set()).add(issue.location)
        return found

    @property
    def errors(self) -> dict[str, set[str]]:
        return self.by_code("error")

    @property
    def warnings(self) -> dict[str, set[str]]:
        return self.by_code("warning")

    @property
    def error_codes(self) -> set[str]:
        return set(self.errors)

    def new_errors(self, reference: Validation) -> dict[str, set[str]]:
        """Error codes found here and not in ``reference``, with the files they name."""
        known = reference.error_codes
        return {code: files for code, files in self.errors.items() if code not in known}


def executable() -> str | None:
    """The validator's command: beside this Python (a virtual environment's bin), else on PATH."""
    beside = Path(sys.executable).with_name(COMMAND)
    return str(beside) if beside.is_file() else shutil.which(COMMAND)


@cache
def unavailable_reason() -> str | None:
    """Why the validator cannot run here, or None when it can (checked once, on a tiny dataset)."""
    command = executable()
    if command is None:
        return f"{COMMAND} is not installed (pip install -e '.[test]')"
    with tempfile.TemporaryDirectory() as folder:
        Path(folder, "dataset_description.json").write_text(
            json.dumps({"Name": "probe", "BIDSVersion": "1.10.0"})
        )
        try:
            _run([command, folder, "--format", "json"], timeout=120)
        except (OSError, ValidatorError) as error:
            return f"{COMMAND} cannot run here: {error}"
    return None


def validate(
    folder: Path,
    *,
    ignore_nifti_headers: bool = False,
    config: Path | None = None,
    timeout: float = TIMEOUT,
    extra: Sequence[str] = (),
) -> Validation:
    """Validate the dataset at ``folder``; every issue the validator reports (it reads all TSV
    rows, as a user validating a release would, not only the first 1,000)."""
    command = executable()
    if command is None:
        raise ValidatorError(f"{COMMAND} is not installed")
    args = [command, str(folder), "--format", "json", "--max-rows", "-1", *extra]
    if ignore_nifti_headers:
        args.append("--ignoreNiftiHeaders")
    if config is not None:
        args += ["--config", str(config)]
    report = _run(args, timeout)
    issues = tuple(
        Issue(
            code=item["code"],
            severity=item.get("severity", ""),
            location=item.get("location", "").lstrip("/"),
            sub_code=item.get("subCode", "") or "",
        )
        for item in report["issues"]["issues"]
    )
    return Validation(Path(folder), issues)


def _run(args: list[str], timeout: float) -> dict:
    """The validator's JSON report. It exits non-zero when it finds errors, so the exit status
    says nothing; only missing or unreadable JSON is a failure."""
    env = {**os.environ, "NO_COLOR": "1", "DENO_NO_UPDATE_CHECK": "1", "DENO_NO_PROMPT": "1"}
    try:
        done = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired as error:
        raise ValidatorError(f"no result after {timeout:.0f} s") from error
    try:
        report = json.loads(done.stdout)
        report["issues"]["issues"]  # the shape every report has
    except (ValueError, KeyError, TypeError) as error:
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise ValidatorError(f"exit {done.returncode}, no JSON report: {last[:300]}") from error
    return report

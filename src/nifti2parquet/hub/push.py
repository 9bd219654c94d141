"""``push``: commit a built OUTPUT_DIR to a Hub dataset repo: planned, batched, resumable, verified.

A run (:class:`PushRun`) reads the target repo (:mod:`.target_repo`), compares it with the local
build (:mod:`.local_build`) into a frozen :class:`~.push_plan.PushPlan` (:func:`plan_push`, a pure
function: a complete re-run uploads nothing, opens no shard and makes no commit), writes the card
it will push, runs the plan's commits (:mod:`.commits`: a commit whose answer was lost is never
made twice), then verifies the remote (every shard and the README with the right size and
sha256, no stray data file, via :func:`remote.compare_files`) and returns the dataset URL. Local
files are never deleted. The token is never printed or written: errors are scrubbed of it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from ..card.prose import write_card
from ..card.readme import README
from ..common.errors import N2PError, OutputError, Problem, VerifyError
from ..common.progress import Bar, Reporter
from ..common.units import count, format_size
from ..preflight.privacy_record import identifying
from ..preflight.publication import check_publication
from ..shards.output import OutputFolder
from .client import ClientSettings, UploadMeter, hub_session, read_timeout_from_env, scrub
from .commits import CommitRunner
from .dry_run import offline_line, offline_plan, offline_reason, privacy_decision
from .errors import PushError, push_error
from .local_build import LocalBuild, read_local_build
from .push_options import PushOptions
from .push_plan import PushPlan, RemoteState, plan_push
from .remote import compare_files
from .repo_id import check_repo_id
from .retry import HubCalls
from .target_repo import READING, files_at, head_of, read_remote, repo_info

if TYPE_CHECKING:
    from huggingface_hub import HfApi

__all__ = ["PushError", "PushOptions", "PushResult", "push"]


@dataclass(frozen=True)
class PushResult:
    """What a push did (or, with ``dry_run``, would do) and what the remote holds now."""

    repo_id: str
    revision: str
    url: str
    plan: PushPlan
    dry_run: bool
    commits: tuple[str, ...] = ()
    pr_url: str | None = None
    pr_revision: str | None = None
    verified_files: int = 0
    verified_bytes: int = 0
    warnings: tuple[Problem, ...] = ()
    seconds: float = 0.0
    sent_bytes: int = 0  # what went over the wire: Xet after deduplication, or LFS bodies
    offline: str = ""  # a dry run planned without the Hub: the line that says so and why
    privacy: str = ""  # a dry run: the privacy decision the push would take, as one line

    def dry_run_lines(self) -> list[str]:
        """What ``--dry-run`` prints before its summary: offline or not, the plan, the privacy
        decision."""
        return [*([self.offline] if self.offline else []), *self.plan.lines(), self.privacy]

    def summary(self) -> str:
        where = f"{self.repo_id}@{self.pr_revision or self.revision}"
        if self.dry_run:
            offline = " (offline)" if self.offline else ""
            return f"dry run for {where}{offline}: {self.plan.headline()}; nothing was written"
        plan = self.plan
        if self.commits:
            n = len(self.commits)
            shards = count(len(plan.uploads), "shard")
            done = (
                f"pushed {shards} ({format_size(plan.upload_bytes)})"
                f"{' and ' + count(len(plan.previews), 'preview') if plan.previews else ''}"
                f"{' and README.md' if plan.card else ''}, "
                f"{format_size(self.sent_bytes)} sent after deduplication, "
                f"deleted {len(plan.deletions):,}, "
                f"skipped {len(plan.skipped):,}, in {count(n, 'commit')}"
            )
        else:
            done = "nothing to push: everything was already there"
        checked = (
            f"verified {self.verified_files:,} files ({format_size(self.verified_bytes)}) "
            f"on {where}"
        )
        return f"{done}; {checked}: {self.pr_url or self.url}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "repo_id": self.repo_id,
            "revision": self.revision,
            "url": self.url,
            "pr_url": self.pr_url,
            "pr_revision": self.pr_revision,
            "dry_run": self.dry_run,
            "offline": self.offline or None,
            "privacy_decision": self.privacy or None,
            "commits": list(self.commits),
            "uploaded_files": len(self.plan.upload_paths),
            "uploaded_bytes": self.plan.upload_bytes,
            "sent_bytes": self.sent_bytes,
            "skipped_files": len(self.plan.skipped),
            "deleted_files": len(self.plan.deletions),
            "verified_files": self.verified_files,
            "verified_bytes": self.verified_bytes,
            "plan": self.plan.to_dict(),
            "warnings": [w.to_dict() for w in self.warnings],
            "seconds": round(self.seconds, 3),
            "summary": self.summary(),
        }


def push(
    output_dir: str,
    repo_id: str,
    options: PushOptions | None = None,
    reporter: Reporter | None = None,
) -> PushResult:
    """Push the build in ``output_dir`` to the Hub dataset repo ``repo_id``; see the module doc."""
    options = options or PushOptions()
    reporter = reporter or Reporter()
    started = time.monotonic()
    options.check()
    check_repo_id(repo_id)
    output = OutputFolder(output_dir)
    local = read_local_build(output, repo_id)
    offline = offline_reason(options)
    if offline is not None:
        return _offline_dry_run(local, repo_id, options, offline, started)
    secrets = _secrets(options.token)
    settings = ClientSettings(read_timeout=options.read_timeout or read_timeout_from_env())
    meter = UploadMeter()
    try:
        locked = _push_lock(output, local.splits, options.dry_run)
        with locked, hub_session(settings, meter, options.no_xet):
            return PushRun(output, local, repo_id, options, reporter, meter, started).run()
    except N2PError as exc:
        raise _scrubbed(exc, secrets) from None


def _offline_dry_run(
    local: LocalBuild, repo_id: str, options: PushOptions, reason: str, started: float
) -> PushResult:
    """The plan and the privacy decision without the Hub: as for a new repo, public unless
    ``--private`` (see :mod:`.dry_run`)."""
    from huggingface_hub import constants

    plan = offline_plan(local, repo_id, options)
    decision, warnings = privacy_decision(
        local.privacy, repo_id, not options.private, options.publish_identifying_data
    )
    return PushResult(
        repo_id=repo_id,
        revision=plan.revision,
        url=dataset_url(constants.ENDPOINT, repo_id, plan.revision),
        plan=plan,
        dry_run=True,
        warnings=local.warnings + warnings,
        seconds=time.monotonic() - started,
        offline=offline_line(reason, repo_id, options.private),
        privacy=decision,
    )


def _secrets(token: str | None) -> tuple[str | None, ...]:
    from huggingface_hub import get_token

    try:
        saved = get_token()
    except Exception:  # a broken token file must not stop us from scrubbing the other one
        saved = None
    return (token, saved)


def _scrubbed(exc: N2PError, secrets: tuple[str | None, ...]) -> N2PError:
    problems = [Problem(p.path, scrub(p.message, secrets), p.severity) for p in exc.problems]
    clean = type(exc)(scrub(exc.message, secrets), problems)
    return clean


@contextlib.contextmanager
def _push_lock(output: OutputFolder, splits: Sequence[str], dry_run: bool) -> Iterator[None]:
    """Hold the folder's push lock and its splits' build locks: the shards must not change under
    a push, and two pushes from one folder would race. A dry run writes nothing, not even a lock
    file."""
    if dry_run:
        yield
        return
    with contextlib.ExitStack() as locks:
        for name in ["push", *(f"build-{split}" for split in splits)]:
            try:
                locks.enter_context(output.lock(name))
            except OutputError:
                busy = "push" if name == "push" else "build"
                raise OutputError(
                    f"{output.url}: another nifti2parquet {busy} is using this folder; "
                    f"push when it has finished"
                ) from None
        yield


class PushRun:
    """One push: read the remote, plan, (write the card,) run the commits, verify."""

    def __init__(
        self,
        output: OutputFolder,
        local: LocalBuild,
        repo_id: str,
        options: PushOptions,
        reporter: Reporter,
        meter: UploadMeter,
        started: float,
    ) -> None:
        from huggingface_hub import HfApi

        self.output, self.local, self.repo_id = output, local, repo_id
        self.options, self.reporter, self.meter, self.started = options, reporter, meter, started
        self.api: HfApi = HfApi(token=options.token)
        self.calls = HubCalls(options.retry, self._give_up, reporter.note)
        self.runner: CommitRunner | None = None  # once the plan is made
        self.privacy_warnings: tuple[Problem, ...] = ()

    def run(self) -> PushResult:
        self.reporter.step(f"reading {self.repo_id} on the Hub")
        self.privacy_warnings, decision = self._check_publication()
        remote = read_remote(self.api, self.repo_id, self.options, self.calls)
        plan = plan_push(self.local, remote, self.repo_id, self.options)
        url = dataset_url(self.api.endpoint, self.repo_id, plan.revision)
        if self.options.dry_run:
            return self._result(plan, url, dry_run=True, privacy=decision)
        if self.local.card_staged != README:  # an edited README, with the repo id put in
            self.output.write_bytes_atomic(self.local.card_staged, self.local.card)
        elif self.local.card != self.local.card_on_disk:
            # the same bytes here and there, recorded with what they were rendered for
            write_card(self.output, self.local.card, self.repo_id, self.local.card_license)
        self.reporter.step(plan.headline())
        runner = self.runner = CommitRunner(
            self.api, self.repo_id, plan, remote, self.options, self.calls
        )
        with self._bars(plan) as (bytes_bar, commit_bar):
            self.meter.progress = runner.track_bytes(bytes_bar)
            runner.run(commit_bar)
        counts, warnings = self._verify(runner, remote)
        return self._result(
            plan,
            dataset_url(self.api.endpoint, self.repo_id, runner.revision),
            commits=tuple(runner.commits),
            pr_url=runner.pr_url,
            pr_revision=runner.revision if runner.pr_url else None,
            verified_files=counts.get("remote_files", 0),
            verified_bytes=counts.get("remote_bytes", 0),
            warnings=warnings,
            sent_bytes=self.meter.sent,
        )

    def _give_up(self, exc: Exception, what: str) -> PushError:
        """A step no retry fixed: one line that says whether any commit of this push stays."""
        return push_error(exc, what, len(self.runner.commits) if self.runner else 0)

    def _check_publication(self) -> tuple[tuple[Problem, ...], str]:
        """Before anything is created or sent: refuse a public push of identifying values. A
        dry run states the decision instead (the warnings, and the decision as one line)."""
        public = False
        if identifying(self.local.privacy):
            info = self.calls.call(lambda: repo_info(self.api, self.repo_id), READING)
            public = not (info.private if info is not None else self.options.private)
        accepted = self.options.publish_identifying_data
        if self.options.dry_run:
            decision, warnings = privacy_decision(
                self.local.privacy, self.repo_id, public, accepted
            )
            return warnings, decision
        return check_publication(self.local.privacy, self.repo_id, public, accepted), ""

    @contextlib.contextmanager
    def _bars(self, plan: PushPlan) -> Iterator[tuple[Bar, Bar]]:
        """Bytes uploaded (throughput, ETA) and commits made."""
        label = f"uploading {format_size(plan.upload_bytes)}"
        with (
            self.reporter.bar(plan.upload_bytes, label) as bytes_bar,
            self.reporter.bar(len(plan.batches), "commits", unit="commits") as commit_bar,
        ):
            yield bytes_bar, commit_bar

    def _verify(
        self, runner: CommitRunner, remote: RemoteState
    ) -> tuple[dict[str, int], tuple[Problem, ...]]:
        """Every shard and the README on the remote with the right size and sha256."""
        self.reporter.step("verifying the remote")
        if runner.commits:
            head = head_of(self.api, self.repo_id, runner.revision, self.calls)
            files = files_at(self.api, self.repo_id, head, self.calls)
        else:
            files = remote.files  # nothing changed since the listing we planned with
        where = f"{self.repo_id}@{runner.revision}"
        found, counts = compare_files(where, self.local.expected(), files, self.local.data_globs())
        errors = [p for p in found if p.severity == "error"]
        if errors:
            raise VerifyError(
                f"pushed, but the remote does not match the build "
                f"({count(len(errors), 'problem')}); run the same push again:",
                errors,
            )
        warnings = tuple(p for p in found if p.severity != "error")
        return dict(counts), warnings

    def _result(self, plan: PushPlan, url: str, dry_run: bool = False, **kw: Any) -> PushResult:
        warnings = self.local.warnings + self.privacy_warnings + tuple(kw.pop("warnings", ()))
        return PushResult(
            repo_id=self.repo_id,
            revision=plan.revision,
            url=url,
            plan=plan,
            dry_run=dry_run,
            warnings=warnings,
            seconds=time.monotonic() - self.started,
            **kw,
        )


def dataset_url(endpoint: str, repo_id: str, revision: str) -> str:
    base = f"{endpoint.rstrip('/')}/datasets/{repo_id}"
    if revision.startswith("refs/pr/"):
        return f"{base}/discussions/{revision.rsplit('/', 1)[1]}"
    return base if revision == "main" else f"{base}/tree/{quote(revision, safe='')}"

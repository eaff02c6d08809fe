"""Feed a workflow its activation jobs one at a time, updates last, so that replay sees the
same sequence whether the SDK core delivered them together or apart.

Why: when a worker dies holding a workflow task, a query that reaches a fresh worker first
makes the core apply the pending events (say an activity result) in an activation of their
own; the update that arrives with the next task then gets a second activation, and the
history records the main coroutine's commands before the update's acceptance. Replaying that
history, the core hands both jobs over in one activation, the SDK runs update handlers
first, and the acceptance comes first: a nondeterminism error on every later replay (a query
on the closed complaint, or a worker restart while it is open). Seen in ``make faults``
(worker-kill) and reproduced in ``tests/test_job_order.py``.

Taking each job in the core's order, in its own pass, with every update after the rest, gives
the same commands for any way the jobs were split between activations. Runs recorded before
this (no ``JOBS_IN_ORDER_PATCH`` marker in their first task) keep the SDK's own order.
"""

from collections.abc import Sequence
from typing import Any

from temporalio import workflow
from temporalio.bridge.proto.workflow_activation import WorkflowActivation, WorkflowActivationJob
from temporalio.bridge.proto.workflow_completion import WorkflowActivationCompletion
from temporalio.worker import WorkflowInstance, WorkflowInstanceDetails, WorkflowRunner

JOBS_IN_ORDER_PATCH = "jobs-one-at-a-time-updates-last"


def mark_jobs_in_order() -> None:
    """Called first thing in a workflow's run: records the marker the runner reads on replay
    (patched() is true on a fresh run, and on replay exactly when the marker is there)."""
    workflow.patched(JOBS_IN_ORDER_PATCH)


def passes(jobs: Sequence[WorkflowActivationJob]) -> list[list[WorkflowActivationJob]]:
    """Split one activation's jobs into the passes to run: patch notices with the first pass
    (patched() must see them), then every other job alone in the core's order, updates last."""
    patches = [job for job in jobs if job.HasField("notify_has_patch")]
    others = [job for job in jobs if not job.HasField("notify_has_patch") and not job.HasField("do_update")]
    updates = [job for job in jobs if job.HasField("do_update")]
    result = [[job] for job in others + updates]
    if not result:
        return [patches] if patches else []
    result[0] = patches + result[0]
    return result


def _merge(into: WorkflowActivationCompletion, part: WorkflowActivationCompletion) -> None:
    into.successful.commands.extend(part.successful.commands)
    for flag in part.successful.used_internal_flags:
        if flag not in into.successful.used_internal_flags:
            into.successful.used_internal_flags.append(flag)
    if part.successful.versioning_behavior:
        into.successful.versioning_behavior = part.successful.versioning_behavior


class _JobsInOrderInstance(WorkflowInstance):
    def __init__(self, inner: WorkflowInstance) -> None:
        self._inner = inner
        self._in_order: bool | None = None  # decided on the first activation

    def activate(self, act: WorkflowActivation) -> WorkflowActivationCompletion:
        if self._in_order is None:
            self._in_order = not act.is_replaying or any(
                job.notify_has_patch.patch_id == JOBS_IN_ORDER_PATCH for job in act.jobs
            )
        groups = passes(act.jobs) if self._in_order else []
        if len(groups) < 2 or any(job.HasField("query_workflow") or job.HasField("remove_from_cache")
                                  for job in act.jobs):  # fmt: skip
            return self._inner.activate(act)
        completion: WorkflowActivationCompletion | None = None
        for group in groups:
            part_act = WorkflowActivation()
            part_act.CopyFrom(act)
            del part_act.jobs[:]
            part_act.jobs.extend(group)
            part = self._inner.activate(part_act)
            if part.HasField("failed"):
                return part  # the task fails; the core evicts the run and replays it from scratch
            if completion is None:
                completion = part
            else:
                _merge(completion, part)
        assert completion is not None
        return completion

    def get_serialization_context(self, command_info: Any) -> Any:
        return self._inner.get_serialization_context(command_info)

    def get_external_store_context(self, command_info: Any) -> Any:
        return self._inner.get_external_store_context(command_info)

    def get_info(self) -> workflow.Info:
        return self._inner.get_info()

    def get_thread_id(self) -> int | None:
        return self._inner.get_thread_id()


class JobsInOrderRunner(WorkflowRunner):
    """Wraps another runner (the sandbox) for the workflows named in ``in_order``."""

    def __init__(self, inner: WorkflowRunner, in_order: Sequence[str]) -> None:
        self.inner = inner
        self.in_order = frozenset(in_order)

    def prepare_workflow(self, defn: workflow._Definition) -> None:
        self.inner.prepare_workflow(defn)

    def create_instance(self, det: WorkflowInstanceDetails) -> WorkflowInstance:
        instance = self.inner.create_instance(det)
        return _JobsInOrderInstance(instance) if det.defn.name in self.in_order else instance

    def set_worker_level_failure_exception_types(self, types: Sequence[type[BaseException]]) -> None:
        self.inner.set_worker_level_failure_exception_types(types)

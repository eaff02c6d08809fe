"""``ComplaintWorkflow`` as workers from before a decision existed ran it: the same workflow
without that decision's handlers (tests.record_histories records runs with them, each on a queue
of its own). A module of its own: the sandbox re-imports the module that defines a workflow, and
finds each class here by its name."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import ComplaintStart, ComplaintState
    from domain.steps import COMPLAINT_WORKFLOW

from workflows.complaint import ComplaintWorkflow


# The SDK wants @workflow.run (and so @workflow.init) on each workflow class itself, not inherited.
class WithoutEditDraft(ComplaintWorkflow):
    """A worker from before ``edit_draft``."""

    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        return await super().run(start)


class WithoutCustomerSide(ComplaintWorkflow):
    """A worker from before ``customer_message`` and ``rate``."""

    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        return await super().run(start)


for _older, _decisions in ((WithoutEditDraft, ("edit_draft",)), (WithoutCustomerSide, ("customer_message", "rate"))):
    for _decision in _decisions:
        for _attr in (_decision, f"{_decision}_validator", f"{_decision}_signal"):
            setattr(_older, _attr, None)
    workflow.defn(name=COMPLAINT_WORKFLOW)(_older)

"""``ComplaintWorkflow`` as a worker from before the ``edit_draft`` decision ran it: the same
workflow without that decision's handlers (tests.record_histories records a run with it). A
module of its own: the sandbox re-imports the module that defines a workflow."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import ComplaintStart, ComplaintState
    from domain.steps import COMPLAINT_WORKFLOW

from workflows.complaint import ComplaintWorkflow


class WithoutEditDraft(ComplaintWorkflow):
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        return await super().run(start)


for _attr in ("edit_draft", "edit_draft_validator", "edit_draft_signal"):
    setattr(WithoutEditDraft, _attr, None)
workflow.defn(name=COMPLAINT_WORKFLOW)(WithoutEditDraft)

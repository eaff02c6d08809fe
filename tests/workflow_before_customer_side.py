"""``ComplaintWorkflow`` as a worker from before the customer's side (issue 14) ran it: the same
workflow without the ``customer_message`` and ``rate`` handlers (tests.record_histories records
a run with it). A module of its own: the sandbox re-imports the module that defines a workflow."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.models import ComplaintStart, ComplaintState
    from domain.steps import COMPLAINT_WORKFLOW

from workflows.complaint import ComplaintWorkflow


class WithoutCustomerSide(ComplaintWorkflow):
    @workflow.init
    def __init__(self, start: ComplaintStart) -> None:
        super().__init__(start)

    @workflow.run
    async def run(self, start: ComplaintStart) -> ComplaintState:
        return await super().run(start)


for _name in ("customer_message", "rate"):
    for _attr in (_name, f"{_name}_validator", f"{_name}_signal"):
        setattr(WithoutCustomerSide, _attr, None)
workflow.defn(name=COMPLAINT_WORKFLOW)(WithoutCustomerSide)

"""``StatusLinkWorkflow``: a customer asked for their status link again (the public lookup page).
One run per request (the form's nonce is its id): queue the link mail if the case id and address
match (the activity decides, off the request path), then deliver it like every other outbox mail,
retried for as long as the store or the mail server is down. The complaint's own workflow may
have ended long ago (its reopen window passed), so this mail cannot ride on it."""

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.steps import STATUS_LINK_WORKFLOW, Activity, StatusLinkRequest
    from workflows.complaint import MAIL_RETRY, MAIL_TIMEOUT, STEP_RETRY


@workflow.defn(name=STATUS_LINK_WORKFLOW)
class StatusLinkWorkflow:
    @workflow.run
    async def run(self, request: StatusLinkRequest) -> bool:
        """Whether a link was mailed (visible to operators in the Temporal UI, never to the asker)."""
        message_id: str = await workflow.execute_activity(
            Activity.QUEUE_STATUS_LINK.value,
            request,
            result_type=str,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=STEP_RETRY,
        )
        if not message_id:  # nothing to send
            return False
        await workflow.execute_activity(
            Activity.DELIVER_MAIL.value,
            message_id,
            start_to_close_timeout=MAIL_TIMEOUT,
            retry_policy=MAIL_RETRY,
        )
        return True

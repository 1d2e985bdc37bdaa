//! The inbound media workflow: fetches the file of one inbound message into object storage
//! (`pombo_contract::inbound_media`). One activity, retried with backoff by Temporal while
//! the provider fails transiently ([`crate::policy::media_fetch`]); when it fails for good
//! the message gets a media error, recorded until it lands. The workflow itself never
//! fails: a person's message is never dropped for its file.

use pombo_contract::inbound_media::{
    FetchMediaInput, InboundMediaActivities, InboundMediaInput, InboundMediaOutcome,
    MediaFailedInput,
};
use temporalio_macros::{workflow, workflow_methods};
use temporalio_sdk::{WorkflowContext, WorkflowResult};

#[workflow]
#[derive(Default)]
pub struct InboundMediaWorkflow {}

#[workflow_methods]
impl InboundMediaWorkflow {
    #[run(name = pombo_contract::inbound_media::INBOUND_MEDIA_WORKFLOW)]
    pub async fn run(
        ctx: &mut WorkflowContext<Self>,
        input: InboundMediaInput,
    ) -> WorkflowResult<InboundMediaOutcome> {
        let fetched = ctx
            .execute_activity(
                InboundMediaActivities::fetch,
                FetchMediaInput {
                    message_id: input.message_id,
                },
                crate::policy::media_fetch(),
            )
            .await;
        let error = match fetched {
            Ok(out) => {
                return Ok(InboundMediaOutcome {
                    file_id: out.file_id,
                    error: None,
                });
            }
            Err(e) => crate::notification::root_cause(&e),
        };
        ctx.execute_activity(
            InboundMediaActivities::record_failed,
            MediaFailedInput {
                message_id: input.message_id,
                error: error.clone(),
            },
            crate::policy::until_recorded(Default::default()),
        )
        .await?;
        Ok(InboundMediaOutcome {
            file_id: None,
            error: Some(error),
        })
    }
}

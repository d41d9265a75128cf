//! The scheduled cleanup: EventBridge invokes it on a schedule; each run
//! does a bounded amount of work and can be repeated safely after a crash.
//! It ends activation challenges that are over (`ChallengeService::cleanup`)
//! and tells accounts of devices whose credit is about to end
//! (`NoticeService::run`, `device.credit_expiring`).

use domain::challenges::CleanupReport;
use domain::notices::NoticeReport;
use domain::{ChallengeError, ChallengeService, NoticeService};
use runtime_support::Platform;

/// What one run works with.
pub struct Cleanup {
    pub challenges: ChallengeService,
    pub notices: NoticeService,
}

/// What one run did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupRun {
    #[serde(flatten)]
    pub challenges: CleanupReport,
    pub notices: NoticeReport,
}

/// The cleanup's services, as its `main.rs` and the local API build them.
pub fn build(platform: &Platform) -> Cleanup {
    Cleanup {
        challenges: ChallengeService::new(
            platform.stores.challenges(),
            platform.clock.clone(),
            platform.challenges,
        ),
        notices: NoticeService::new(
            platform.stores.notices(),
            platform.stores.devices(),
            platform.stores.webhooks(),
            platform.clock.clone(),
        ),
    }
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
pub enum CleanupError {
    #[error(transparent)]
    Challenges(#[from] ChallengeError),
    #[error("the credit notices failed: {0}")]
    Notices(#[from] domain::StoreError),
}

/// One run, for whatever event invoked it (the scheduled event carries
/// nothing the cleanup needs). The notices run even when the challenge
/// part failed; the run then reports the first failure, so the schedule
/// tries again.
pub async fn handle(cleanup: &Cleanup) -> Result<CleanupRun, CleanupError> {
    let challenges = cleanup.challenges.cleanup().await;
    let notices = cleanup.notices.run().await?;
    let challenges = challenges?;
    tracing::info!(
        markedExpired = challenges.marked_expired,
        purged = challenges.purged,
        more = challenges.more,
        noticesTold = notices.told,
        noticesAlreadyTold = notices.already_told,
        accounts = notices.accounts,
        "cleanup run"
    );
    Ok(CleanupRun {
        challenges,
        notices,
    })
}

//! The scheduled cleanup: EventBridge invokes it on a schedule; each run
//! does a bounded amount of work (`ChallengeService::cleanup`) and can be
//! repeated safely after a crash.

use domain::challenges::CleanupReport;
use domain::{ChallengeError, ChallengeService};
use runtime_support::Platform;

/// The cleanup's service, as its `main.rs` and the local API build it.
pub fn build(platform: &Platform) -> ChallengeService {
    ChallengeService::new(
        platform.stores.challenges(),
        platform.clock.clone(),
        platform.challenges,
    )
}

/// One run, for whatever event invoked it (the scheduled event carries
/// nothing the cleanup needs).
pub async fn handle(service: &ChallengeService) -> Result<CleanupReport, ChallengeError> {
    let report = service.cleanup().await?;
    tracing::info!(
        markedExpired = report.marked_expired,
        purged = report.purged,
        more = report.more,
        "cleanup run"
    );
    Ok(report)
}

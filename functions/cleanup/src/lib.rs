//! The scheduled cleanup: EventBridge invokes it on a schedule; each run
//! does a bounded amount of work (`ChallengeService::cleanup`) and can be
//! repeated safely after a crash.

use domain::challenges::CleanupReport;
use domain::{ChallengeError, ChallengeService};

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

//! The platform's business rules, free of AWS: clients and `POST /auth`,
//! devices, codes, batches, licensing, and the storage ports (`ports`) the adapters implement.
#![forbid(unsafe_code)]

pub mod api_keys;
pub mod auth;
pub mod batches;
pub mod challenges;
pub mod clients;
pub mod clock;
pub mod codes;
pub mod devices;
pub mod hex;
pub mod idempotency;
pub mod licensing;
pub mod ports;
pub mod random;
pub mod rate_limits;

pub use auth::{AuthError, AuthService};
pub use batches::{BatchError, BatchService};
pub use challenges::{ChallengeError, ChallengeService};
pub use codes::{CodesError, CodesService};
pub use licensing::{LicenseError, LicenseService};
pub use ports::{
    ApiKeyStore, BatchStore, ChallengeStore, ChunkQueue, ClientStore, CodeStore, DeviceStore,
    IdempotencyStore, LicenseStore, Page, RateLimitStore, StoreError,
};

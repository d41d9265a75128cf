//! The platform's business rules, free of AWS and HTTP. One module folder
//! per aggregate (clients, auth, devices, codes, batches, payments,
//! licensing, M-Pesa intake, challenges, idempotency, rate limits, events
//! and webhooks), each with its types, errors,
//! service and storage ports (`port.rs`). The shared vocabulary (`clock`,
//! `field`, `hex`, `money`, `paging`, `random`, `store`) imports no aggregate, and
//! `tests/module_graph.rs` keeps the module graph free of cycles.
#![forbid(unsafe_code)]

pub mod clock;
pub mod field;
pub mod hex;
pub mod ids;
pub mod money;
pub mod paging;
pub mod random;
pub mod store;

pub mod auth;
pub mod batches;
pub mod challenges;
pub mod clients;
pub mod codes;
pub mod devices;
pub mod events;
pub mod idempotency;
pub mod licensing;
pub mod mpesa;
pub mod notices;
pub mod payments;
pub mod rate_limits;
pub mod webhooks;

pub use auth::{AuthError, AuthService};
pub use batches::port::{BatchStore, ChunkQueue};
pub use batches::{BatchError, BatchService};
pub use challenges::port::ChallengeStore;
pub use challenges::{ChallengeError, ChallengeService};
pub use clients::port::{ApiKeyStore, ClientStore};
pub use codes::port::CodeStore;
pub use codes::{CodesError, CodesService};
pub use devices::port::DeviceStore;
pub use field::FieldError;
pub use idempotency::port::IdempotencyStore;
pub use licensing::port::LicenseStore;
pub use licensing::{LicenseError, LicenseService};
pub use mpesa::port::MpesaStore;
pub use mpesa::{MpesaError, MpesaService};
pub use notices::port::NoticeStore;
pub use notices::NoticeService;
pub use paging::Page;
pub use payments::port::PaymentStore;
pub use payments::{PaymentsError, PaymentsService};
pub use rate_limits::port::RateLimitStore;
pub use store::StoreError;
pub use webhooks::port::{DeliveryQueue, HostResolver, WebhookSender, WebhookStore};
pub use webhooks::{WebhookError, WebhookService};

//! The platform's business rules, free of AWS: clients and `POST /auth`,
//! devices, codes, and the storage ports (`ports`) the adapters implement.
#![forbid(unsafe_code)]

pub mod auth;
pub mod batches;
pub mod clients;
pub mod clock;
pub mod codes;
pub mod devices;
pub mod ports;
pub mod random;

pub use auth::{AuthError, AuthService};
pub use batches::{BatchError, BatchService};
pub use codes::{CodesError, CodesService};
pub use ports::{BatchStore, ChunkQueue, ClientStore, CodeStore, DeviceStore, Page, StoreError};

//! Keycode engine for pay-as-you-go devices.
//!
//! Two open keypad protocols are implemented bit for bit against their
//! official Python reference packages (`openpaygo` 0.6.3 and `nexus-keycode`
//! 1.5.1), together with the device side of each, so that every code the
//! platform issues can be checked end to end without hardware:
//!
//! - [`openpaygo`]: OpenPAYGO Token, standard (9 digits) and extended
//!   (12 digits) tokens, optionally in the restricted digit set (digits 1-4),
//!   with the reference decoder's acceptance rules.
//! - [`nexus`]: Angaza Nexus Keycode, the "full" protocol (`*` + 14 digits +
//!   `#`) and the "small" protocol for 4-key keypads, with the firmware's
//!   message-id window and received-id bitmask.
//! - [`codes`]: the platform's eight code types mapped onto each protocol.
//! - [`simulator`]: a device that takes keycodes in order and tracks credit.
//!
//! ```
//! use keycode::codes::{generate, CodeType, DeviceProtocol, DeviceSecrets};
//! use keycode::simulator::{Entry, SimulatedDevice};
//! use keycode::SecretKey;
//!
//! let device = DeviceSecrets {
//!     protocol: DeviceProtocol::NexusFull,
//!     key: SecretKey::from_hex("deadbeefdeadbeefdeadbeefdeadbeef").unwrap(),
//!     starting_code: None,
//! };
//! // Message id 42, seven days: the reference README's own example.
//! let code = generate(&device, 42, CodeType::AddTime, 7).unwrap();
//! assert_eq!(code.code, "*599 791 493 194 43#");
//! assert_eq!(code.next_count, 43);
//!
//! let mut simulated = SimulatedDevice::new(device, 0);
//! assert_eq!(simulated.enter(&code.code), Entry::Accepted);
//! assert_eq!(simulated.credit_seconds, 7 * 86_400);
//! assert_eq!(simulated.enter(&code.code), Entry::AlreadyUsed);
//! ```
//!
//! The crate does no I/O and has no async code; every function is a pure
//! computation over its arguments, and every bad input is a typed error.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod codes;
pub mod device_list;
mod key;
pub mod metrics;
pub mod nexus;
pub mod openpaygo;
pub mod simulator;
mod siphash;

pub use codes::{CodeError, CodeType, DeviceProtocol, DeviceSecrets, GeneratedCode};
pub use key::{KeyError, SecretKey};
pub use siphash::siphash24;

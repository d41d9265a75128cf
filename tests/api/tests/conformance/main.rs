//! The storage conformance suite: every port operation against the
//! in-memory adapter and against DynamoDB Local, with the same
//! expectations, races included. One module per aggregate family.

mod batches;
mod challenges;
mod guards;
mod licenses;
mod mpesa;
mod notices;
mod stores;
mod webhooks;

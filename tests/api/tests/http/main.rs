//! The HTTP suite: every route through the handlers that run on Lambda, on
//! the in-memory store and on DynamoDB Local, one module per route family,
//! plus the checks that hold `template.yaml`, `events/` and the OpenAPI
//! document to the route table. One binary, so the AWS SDKs link once.

mod auth;
mod batch;
mod challenges;
mod codes;
mod credit;
mod deployment;
mod idempotency;
mod licenses;
mod limits;
mod mpesa;
mod openapi;
mod payments;
mod rate_limits;
mod sqs;
mod stalls;
mod unknown_fields;
mod webhooks;

//! Registries' own token APIs: where tokens are born, listed and revoked.
//!
//! Each registry that has such an API gets a room here (today Docker Hub,
//! [`hub`]): a client for the documented calls, and the rules of a token's
//! lifecycle there (sign-in, create, link, rotate, the audit), acting on the
//! registry and on the stored token together through the service.
//!
//! Nothing here prints or prompts: each room returns its own typed errors,
//! and the commands (`crate::commands`) turn them into one line saying what
//! is true now and what to do.

pub(crate) mod hub;

//! GitLab's access tokens (gitlab.com and self-managed), where they are born.
//!
//! - [`client`]: the documented calls of the REST API v4 behind the shared
//!   trait: personal, project and group tokens listed, read, created,
//!   rotated (also `self/rotate`) and revoked.
//! - [`manage`]: what acts on GitLab and on the stored token together:
//!   `login`, `create` and store, the rotation that never trips GitLab's
//!   reuse detection, `revoke`, the listing and the audit.
//!
//! Nothing here prints or prompts; failures are [`RemoteError`]s and
//! [`manage::ManageError`]s, which the `gitlab` commands turn into one line.
//!
//! [`RemoteError`]: crate::remote::RemoteError

pub(crate) mod client;
pub(crate) mod manage;

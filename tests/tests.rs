//! Integration tests: the built helper against a real Secret Service, a real
//! registry, the Docker CLI and skopeo. No mock keychain is used here.
//!
//! Most modules need the Linux test machine (GNOME Keyring on a private D-Bus,
//! strace, Debian's registry); on Windows and macOS they are not compiled, and
//! the protocol's conformance table runs against the native keychain.

mod support;

#[cfg(target_os = "linux")]
mod benchmarks;
mod closed_stdout;
#[cfg(target_os = "linux")]
mod configure;
mod conformance;
#[cfg(target_os = "linux")]
mod docker;
#[cfg(target_os = "linux")]
mod doctor;
#[cfg(target_os = "linux")]
mod doubles;
#[cfg(target_os = "linux")]
mod expiry;
#[cfg(target_os = "linux")]
mod faults;
#[cfg(target_os = "linux")]
mod github;
#[cfg(target_os = "linux")]
mod github_faults;
#[cfg(target_os = "linux")]
mod gitlab;
#[cfg(target_os = "linux")]
mod gitlab_faults;
#[cfg(target_os = "linux")]
mod hostile;
#[cfg(target_os = "linux")]
mod hub;
#[cfg(target_os = "linux")]
mod hub_faults;
#[cfg(target_os = "linux")]
mod hygiene;
#[cfg(target_os = "linux")]
mod import;
#[cfg(target_os = "linux")]
mod install;
#[cfg(target_os = "linux")]
mod load;
#[cfg(target_os = "linux")]
mod memory;
#[cfg(target_os = "linux")]
mod openbao;
#[cfg(target_os = "linux")]
mod openbao_faults;
#[cfg(target_os = "linux")]
mod openbao_requests;
#[cfg(target_os = "linux")]
mod packaging;
#[cfg(target_os = "linux")]
mod protocol;
#[cfg(target_os = "linux")]
mod registry_view;
#[cfg(target_os = "linux")]
mod select;
#[cfg(target_os = "linux")]
mod tokens;
#[cfg(target_os = "linux")]
mod trust;
#[cfg(target_os = "linux")]
mod two_factor;
#[cfg(target_os = "linux")]
mod vault;
#[cfg(target_os = "linux")]
mod walkthrough;
#[cfg(target_os = "linux")]
mod wine;
#[cfg(target_os = "linux")]
mod wire;

//! Integration tests: the built helper against a real Secret Service, a real
//! registry, the Docker CLI and skopeo. No mock keychain is used here.

mod support;

mod configure;
mod docker;
mod doctor;
mod faults;
mod hostile;
mod hygiene;
mod import;
mod install;
mod load;
#[cfg(target_os = "linux")]
mod memory;
mod packaging;
mod protocol;
mod tokens;
#[cfg(unix)]
mod trust;
mod two_factor;
mod vault;

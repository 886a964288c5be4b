//! Integration tests: the built helper against a real Secret Service, a real
//! registry, the Docker CLI and skopeo. No mock keychain is used here.

mod support;

mod docker;
mod faults;
mod hostile;
mod hygiene;
mod load;
mod protocol;
mod tokens;
mod two_factor;

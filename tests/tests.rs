//! Integration tests: the built helper against a real Secret Service, a real
//! registry, the Docker CLI and skopeo. No mock keychain is used here.

mod support;

mod configure;
mod docker;
mod doctor;
mod expiry;
mod faults;
mod hostile;
mod hub;
mod hygiene;
mod import;
mod install;
mod load;
mod openbao;
mod packaging;
mod protocol;
mod tokens;
mod two_factor;
mod vault;

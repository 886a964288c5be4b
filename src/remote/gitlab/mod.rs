//! GitLab.

//! The black-box suite: the real `scimd` binary, started on a free port with its own database,
//! driven over HTTP and its command line like an identity provider, an administrator and an
//! operator would. One test binary (it links once); each module is one concern, named for it.
//! `SCIMD_TEST_BACKEND=postgres` runs the whole suite on PostgreSQL.

mod common;

mod acme;
mod activity_details;
mod applications;
mod backup;
mod check_cli;
mod concurrency;
mod config;
mod console;
mod copy;
mod crash;
mod directory_story;
mod faults;
mod first_week;
mod groups_console;
mod hostile;
mod idp_replays;
mod isolation;
mod listeners;
mod mail;
mod migrate;
mod multi_instance;
mod operations;
mod pg_tls;
mod protocol;
mod roles;
mod round_trips;
mod signin;
mod transport;
mod two_step;
mod webhooks;

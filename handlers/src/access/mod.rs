//! Team access to the admin API: who a caller is and what their role lets them do, and the
//! record of what they changed. [`roles`] holds the three roles, the caller's [`Identity`] and
//! the `ACCESS_ROLES_JSON` map from an Access email or group to a role; [`credential`] says
//! which credential a request presents (an `ADMIN_TOKEN` entry, a named token, an Access JWT);
//! [`routes`] is the table
//! of every admin API route with the role it needs (the shell's route table answers, this one
//! decides who may ask); [`tokens`] mints and checks named API tokens (`ehk_…`, stored hashed);
//! [`jwt`] reads a Cloudflare Access JWT and its team's signing keys and checks its claims (the
//! RSA signature itself is verified by the runtime's WebCrypto in the shell); [`audit`] builds
//! the audit trail's rows, its listing query and its expiry. The settings (`ACCESS_*`,
//! `AUDIT_RETENTION_DAYS`) are read in [`settings`].

pub mod audit;
pub mod credential;
pub mod jwt;
pub mod roles;
pub mod routes;
pub mod settings;
pub mod tokens;

pub use roles::{Identity, Role, RoleMap, Via};

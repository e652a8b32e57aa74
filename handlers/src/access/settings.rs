//! The team-access settings: Cloudflare Access (`ACCESS_TEAM_DOMAIN`, `ACCESS_AUD`,
//! `ACCESS_ROLES_JSON`, `ACCESS_CERTS_URL`) and how long the audit trail keeps a row
//! (`AUDIT_RETENTION_DAYS`). Access is off while `ACCESS_TEAM_DOMAIN` is unset; once it is set,
//! `ACCESS_AUD` and `ACCESS_ROLES_JSON` are required (a missing or invalid one is an error
//! naming it, and Access sign-ins are refused as `misconfigured` until it is fixed).

use crate::settings::table::{
    ACCESS_AUD, ACCESS_CERTS_URL, ACCESS_ROLES_JSON, ACCESS_TEAM_DOMAIN, AUDIT_RETENTION_DAYS,
};
use crate::settings::{Config, ConfigError};

use super::roles::RoleMap;

/// Fewest days the audit trail may keep a row.
pub const MIN_AUDIT_DAYS: u64 = 1;
/// `AUDIT_RETENTION_DAYS`' default (the table's), for a row written while the setting is invalid
/// (the admin health names it).
pub const DEFAULT_AUDIT_DAYS: u64 = 365;

/// Cloudflare Access as configured.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccessSettings {
    /// `https://<team>.cloudflareaccess.com`: the tokens' `iss`.
    pub issuer: String,
    /// The Access applications' audience tags (`ACCESS_AUD`, comma-separated).
    pub audiences: Vec<String>,
    /// Where the team's signing keys are: `ACCESS_CERTS_URL`, else `<issuer>/cdn-cgi/access/certs`.
    pub certs_url: String,
    pub roles: RoleMap,
}

fn error(setting: &'static str, detail: impl Into<String>) -> ConfigError {
    ConfigError {
        setting,
        detail: detail.into(),
    }
}

/// The issuer of a team domain given as `myteam`, `myteam.cloudflareaccess.com` or its URL.
fn issuer_of(team: &str) -> Result<String, ConfigError> {
    let host = team
        .trim()
        .trim_start_matches("https://")
        .trim_end_matches('/');
    if host.is_empty() || host.contains(['/', ' ', '@', '?', '#']) {
        return Err(error(ACCESS_TEAM_DOMAIN, "must be a team name or domain"));
    }
    let host = match host.contains('.') {
        true => host.to_string(),
        false => format!("{host}.cloudflareaccess.com"),
    };
    Ok(format!("https://{}", host.to_ascii_lowercase()))
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// Cloudflare Access sign-in, `None` when `ACCESS_TEAM_DOMAIN` is unset.
    pub fn access(&self) -> Result<Option<AccessSettings>, ConfigError> {
        let Some(team) = self.text(ACCESS_TEAM_DOMAIN) else {
            return Ok(None);
        };
        let issuer = issuer_of(&team)?;
        let certs_url = match self.text(ACCESS_CERTS_URL) {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => url,
            Some(_) => return Err(error(ACCESS_CERTS_URL, "must be an http(s) URL")),
            None => format!("{issuer}/cdn-cgi/access/certs"),
        };
        let audiences: Vec<String> = self
            .text(ACCESS_AUD)
            .unwrap_or_default()
            .split(',')
            .map(|a| a.trim().to_string())
            .filter(|a| !a.is_empty())
            .collect();
        if audiences.is_empty() {
            return Err(error(ACCESS_AUD, "is required with ACCESS_TEAM_DOMAIN"));
        }
        let roles = self
            .text(ACCESS_ROLES_JSON)
            .ok_or_else(|| error(ACCESS_ROLES_JSON, "is required with ACCESS_TEAM_DOMAIN"))
            .and_then(|text| RoleMap::parse(&text).map_err(|d| error(ACCESS_ROLES_JSON, d)))?;
        Ok(Some(AccessSettings {
            issuer,
            audiences,
            certs_url,
            roles,
        }))
    }

    /// `AUDIT_RETENTION_DAYS` (at least one day): how long an audit row is kept.
    pub fn audit_retention_days(&self) -> Result<u64, ConfigError> {
        let days = self.number(AUDIT_RETENTION_DAYS)?;
        match days >= MIN_AUDIT_DAYS {
            true => Ok(days),
            false => Err(error(AUDIT_RETENTION_DAYS, "must be at least 1 day")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::Role;
    use crate::steps::timing::RUNNING_LEASE_MS;
    use std::collections::HashMap;

    fn config(pairs: &[(&str, &str)]) -> Config<impl Fn(&str) -> Option<String>> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::new(move |name: &str| map.get(name).cloned(), RUNNING_LEASE_MS)
    }

    #[test]
    fn access_is_off_until_a_team_is_set() {
        assert_eq!(config(&[]).access(), Ok(None));
    }

    #[test]
    fn a_team_needs_an_audience_and_roles() {
        let team = (ACCESS_TEAM_DOMAIN, "myteam");
        let aud = (ACCESS_AUD, "tag1, tag2");
        let roles = (ACCESS_ROLES_JSON, r#"{"*@example.com":"viewer"}"#);
        let access = config(&[team, aud, roles]).access().unwrap().unwrap();
        assert_eq!(access.issuer, "https://myteam.cloudflareaccess.com");
        assert_eq!(access.audiences, vec!["tag1", "tag2"]);
        assert_eq!(
            access.certs_url,
            "https://myteam.cloudflareaccess.com/cdn-cgi/access/certs"
        );
        assert_eq!(
            access.roles.role_of(Some("a@example.com"), &[]),
            Some(Role::Viewer)
        );
        let named = |pairs: &[(&str, &str)]| config(pairs).access().unwrap_err().setting;
        assert_eq!(named(&[team, roles]), ACCESS_AUD);
        assert_eq!(named(&[team, aud]), ACCESS_ROLES_JSON);
        assert_eq!(
            named(&[team, aud, (ACCESS_ROLES_JSON, r#"{"x":"admin"}"#)]),
            ACCESS_ROLES_JSON
        );
        assert_eq!(
            named(&[(ACCESS_TEAM_DOMAIN, "a/b"), aud, roles]),
            ACCESS_TEAM_DOMAIN
        );
        assert_eq!(
            named(&[team, aud, roles, (ACCESS_CERTS_URL, "ftp://x")]),
            ACCESS_CERTS_URL
        );
        let full = config(&[
            (ACCESS_TEAM_DOMAIN, "https://Team.Example.com/"),
            aud,
            roles,
            (ACCESS_CERTS_URL, "http://127.0.0.1:9/certs"),
        ]);
        let access = full.access().unwrap().unwrap();
        assert_eq!(access.issuer, "https://team.example.com");
        assert_eq!(access.certs_url, "http://127.0.0.1:9/certs");
    }

    #[test]
    fn audit_retention() {
        assert_eq!(config(&[]).audit_retention_days(), Ok(DEFAULT_AUDIT_DAYS));
        assert_eq!(
            crate::settings::table::default_of(AUDIT_RETENTION_DAYS),
            "365"
        );
        assert_eq!(
            config(&[(AUDIT_RETENTION_DAYS, "7")]).audit_retention_days(),
            Ok(7)
        );
        assert!(config(&[(AUDIT_RETENTION_DAYS, "0")])
            .audit_retention_days()
            .is_err());
    }

    #[test]
    fn the_admin_health_reports_access_sign_in() {
        assert_eq!(config(&[]).health()["access"], "disabled");
        let on = config(&[
            (ACCESS_TEAM_DOMAIN, "team"),
            (ACCESS_AUD, "tag"),
            (ACCESS_ROLES_JSON, r#"{"*":"viewer"}"#),
        ]);
        assert_eq!(on.health()["access"], "enabled");
        let broken = config(&[(ACCESS_TEAM_DOMAIN, "team"), (AUDIT_RETENTION_DAYS, "0")]);
        assert_eq!(broken.health()["access"], "misconfigured");
        assert_eq!(
            broken.health()["misconfigured"],
            serde_json::json!([
                { "affects": "audit", "setting": "AUDIT_RETENTION_DAYS" },
                { "affects": "access", "setting": "ACCESS_AUD" },
            ])
        );
    }
}

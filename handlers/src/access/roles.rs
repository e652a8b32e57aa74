//! The three roles of the admin API (each allows what the ones below it allow), the caller's
//! identity (who, how they signed in, their role) and [`RoleMap`]: `ACCESS_ROLES_JSON`, which
//! gives a Cloudflare Access identity its role by email, `*@domain`, `group:<name>` or `*`.

use serde_json::Value;

/// What a caller may do. Ordered: `Viewer < Operator < Admin`; a role allows everything a
/// lower one does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// Reads: every `GET` of the admin API except the token list.
    Viewer,
    /// Viewer, and the day-to-day actions: replay, redrive, bulk replay, pause, resume, test send.
    Operator,
    /// Everything: sources, destinations, connections, routes, backfill runs, tokens.
    Admin,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|r| r.name() == name.trim())
    }

    /// Whether this role may call a route that needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// How a caller signed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// One of `ADMIN_TOKEN`'s entries (the bootstrap admin).
    AdminToken,
    /// A named API token.
    ApiToken,
    /// A Cloudflare Access JWT.
    Access,
}

impl Via {
    pub fn name(self) -> &'static str {
        match self {
            Via::AdminToken => "admin_token",
            Via::ApiToken => "api_token",
            Via::Access => "access",
        }
    }
}

/// A signed-in caller: who (as the audit trail names them), how, and their role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `ADMIN_TOKEN[<entry index>]`, `token:<name>` or the Access email.
    pub who: String,
    pub via: Via,
    pub role: Role,
}

impl Identity {
    /// The caller behind `ADMIN_TOKEN`'s entry `index` (its position, never its value).
    pub fn admin_token(index: usize) -> Identity {
        Identity {
            who: format!("ADMIN_TOKEN[{index}]"),
            via: Via::AdminToken,
            role: Role::Admin,
        }
    }

    /// The caller behind the named API token `name`.
    pub fn api_token(name: &str, role: Role) -> Identity {
        Identity {
            who: format!("token:{name}"),
            via: Via::ApiToken,
            role,
        }
    }
}

/// `ACCESS_ROLES_JSON`: an Access identity's role. Keys are an email (`alice@example.com`), a
/// group (`group:ops`), every address of a domain (`*@example.com`) or anyone the Access
/// application lets through (`*`); values are role names. The most specific kind of key that
/// matches decides: the email, else the highest role among the caller's matching groups, else
/// the domain, else `*`. Emails and domains match without regard to case. No match: no role.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RoleMap {
    emails: Vec<(String, Role)>,
    groups: Vec<(String, Role)>,
    domains: Vec<(String, Role)>,
    anyone: Option<Role>,
}

impl RoleMap {
    /// Parse the setting's JSON object; an error names the bad key or value.
    pub fn parse(text: &str) -> Result<RoleMap, String> {
        let value: Value =
            serde_json::from_str(text).map_err(|_| "is not valid JSON".to_string())?;
        let object = value.as_object().ok_or("must be a JSON object")?;
        let mut map = RoleMap::default();
        for (key, role) in object {
            let role = role
                .as_str()
                .and_then(Role::from_name)
                .ok_or_else(|| format!("{key:?}: the role must be viewer, operator or admin"))?;
            map.add(key.trim(), role)?;
        }
        Ok(map)
    }

    fn add(&mut self, key: &str, role: Role) -> Result<(), String> {
        if key == "*" {
            self.anyone = Some(role);
        } else if let Some(group) = key.strip_prefix("group:").filter(|g| !g.is_empty()) {
            self.groups.push((group.to_string(), role));
        } else if let Some(domain) = key.strip_prefix("*@").filter(|d| valid_domain(d)) {
            self.domains.push((domain.to_ascii_lowercase(), role));
        } else if key
            .split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && valid_domain(d))
        {
            self.emails.push((key.to_ascii_lowercase(), role));
        } else {
            return Err(format!(
                "{key:?}: a key is an email, *@domain, group:<name> or *"
            ));
        }
        Ok(())
    }

    /// The role of an identity with `email` (if any) in `groups`; `None`: no role.
    pub fn role_of(&self, email: Option<&str>, groups: &[String]) -> Option<Role> {
        let email = email.map(|e| e.trim().to_ascii_lowercase());
        let by_email = email
            .as_deref()
            .and_then(|e| self.emails.iter().find(|(k, _)| k == e));
        let by_group = self
            .groups
            .iter()
            .filter(|(g, _)| groups.iter().any(|have| have == g))
            .map(|(_, r)| *r)
            .max();
        let by_domain = email.as_deref().and_then(|e| {
            let (_, domain) = e.rsplit_once('@')?;
            self.domains
                .iter()
                .find(|(d, _)| d == domain)
                .map(|(_, r)| *r)
        });
        by_email
            .map(|(_, r)| *r)
            .or(by_group)
            .or(by_domain)
            .or(self.anyone)
    }
}

fn valid_domain(domain: &str) -> bool {
    !domain.is_empty() && !domain.contains(['@', '*', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_and_named() {
        assert!(Role::Admin.allows(Role::Operator));
        assert!(Role::Operator.allows(Role::Viewer));
        assert!(!Role::Viewer.allows(Role::Operator));
        assert!(!Role::Operator.allows(Role::Admin));
        for role in Role::ALL {
            assert_eq!(Role::from_name(role.name()), Some(role));
        }
        assert_eq!(Role::from_name("root"), None);
    }

    #[test]
    fn the_most_specific_key_decides() {
        let map = RoleMap::parse(
            r#"{"alice@example.com":"admin","bob@example.com":"viewer","group:ops":"operator",
                "group:leads":"admin","*@example.com":"viewer","*@partner.io":"operator"}"#,
        )
        .unwrap();
        let none: Vec<String> = vec![];
        let ops = vec!["ops".to_string()];
        let both = vec!["ops".to_string(), "leads".to_string()];
        assert_eq!(
            map.role_of(Some("Alice@Example.com"), &none),
            Some(Role::Admin)
        );
        assert_eq!(
            map.role_of(Some("bob@example.com"), &both),
            Some(Role::Viewer),
            "email wins"
        );
        assert_eq!(
            map.role_of(Some("carol@example.com"), &ops),
            Some(Role::Operator)
        );
        assert_eq!(
            map.role_of(Some("carol@example.com"), &both),
            Some(Role::Admin),
            "highest group"
        );
        assert_eq!(
            map.role_of(Some("dan@example.com"), &none),
            Some(Role::Viewer)
        );
        assert_eq!(
            map.role_of(Some("eve@partner.io"), &none),
            Some(Role::Operator)
        );
        assert_eq!(map.role_of(Some("eve@elsewhere.io"), &none), None);
        assert_eq!(map.role_of(None, &ops), Some(Role::Operator));
        assert_eq!(
            map.role_of(Some("x@sub.example.com"), &none),
            None,
            "no subdomains"
        );
    }

    #[test]
    fn anyone_is_the_last_resort() {
        let map = RoleMap::parse(r#"{"*":"viewer","group:ops":"operator"}"#).unwrap();
        assert_eq!(map.role_of(Some("z@z.io"), &[]), Some(Role::Viewer));
        assert_eq!(
            map.role_of(Some("z@z.io"), &["ops".into()]),
            Some(Role::Operator)
        );
    }

    #[test]
    fn bad_maps_name_the_key() {
        for (text, names) in [
            (r#"{"alice@example.com":"root"}"#, "alice@example.com"),
            (r#"{"alice":"admin"}"#, "alice"),
            (r#"{"*@":"admin"}"#, "*@"),
            (r#"{"group:":"admin"}"#, "group:"),
            (r#"{"a@b.c":1}"#, "a@b.c"),
        ] {
            let error = RoleMap::parse(text).unwrap_err();
            assert!(error.contains(names), "{text}: {error}");
        }
        assert!(RoleMap::parse("[]").is_err());
        assert!(RoleMap::parse("{").is_err());
    }
}

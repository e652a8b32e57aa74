//! Every admin API route (method and path pattern after `/admin/api/`, `{…}` one segment) with
//! the role it needs. The shell asks [`decide`] before it answers: a caller whose role is lower
//! is refused (`403 forbidden_role`) and the call is not made; a mutating route's call, made or
//! refused, is audited. A method and path this table does
//! not list needs [`Role::Admin`] (fail closed: a route added to the shell without a row here is
//! an admin's), and then the shell's own table answers `404` or `405`. `HEAD` is `GET`.
//! `handlers/access-routes.json` is this table for the end-to-end tests (kept equal by a test),
//! which call every route with every role.

use serde_json::{json, Value};

use super::roles::Role;
use Role::{Admin, Operator, Viewer};

/// One route and the role it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ApiRoute {
    pub method: &'static str,
    /// The path after `/admin/api/`, `{name}` standing for one segment.
    pub pattern: &'static str,
    pub role: Role,
}

const fn route(method: &'static str, pattern: &'static str, role: Role) -> ApiRoute {
    ApiRoute {
        method,
        pattern,
        role,
    }
}

/// Every admin API route.
pub const ROUTES: [ApiRoute; 51] = [
    route("GET", "health", Viewer),
    route("GET", "stats", Viewer),
    route("GET", "rejections", Viewer),
    route("GET", "storage", Viewer),
    route("GET", "metrics", Viewer),
    route("GET", "alerts", Viewer),
    route("GET", "events", Viewer),
    route("GET", "events/{id}", Viewer),
    route("GET", "events/{id}/connections", Viewer),
    route("GET", "dead", Viewer),
    route("GET", "backfill", Viewer),
    route("GET", "destinations", Viewer),
    route("GET", "destinations/{name}", Viewer),
    route("GET", "connections", Viewer),
    route("GET", "connections/{name}", Viewer),
    route("GET", "routes", Viewer),
    route("GET", "sources", Viewer),
    route("GET", "sources/{name}", Viewer),
    route("GET", "audit", Viewer),
    route("GET", "whoami", Viewer),
    route("POST", "events/{id}/replay", Operator),
    route("POST", "redrive", Operator),
    route("POST", "replay", Operator),
    route("POST", "destinations/{name}/pause", Operator),
    route("POST", "destinations/{name}/resume", Operator),
    route("POST", "destinations/{name}/test", Operator),
    // Sends and writes nothing, but is a POST (a body to try a transform): audited, operator's.
    route("POST", "connections/{name}/preview", Operator),
    route("POST", "backfill/stripe", Admin),
    route("POST", "backfill/shopify", Admin),
    route("POST", "destinations", Admin),
    route("PUT", "destinations/{name}", Admin),
    route("PATCH", "destinations/{name}", Admin),
    route("DELETE", "destinations/{name}", Admin),
    route("POST", "connections", Admin),
    route("PUT", "connections/{name}", Admin),
    route("PATCH", "connections/{name}", Admin),
    route("DELETE", "connections/{name}", Admin),
    route("POST", "connections/{name}/enable", Admin),
    route("POST", "connections/{name}/disable", Admin),
    route("POST", "sources", Admin),
    route("PUT", "sources/{name}", Admin),
    route("PATCH", "sources/{name}", Admin),
    route("DELETE", "sources/{name}", Admin),
    route("POST", "sources/{name}/secrets", Admin),
    route("POST", "sources/{name}/enable", Admin),
    route("POST", "sources/{name}/disable", Admin),
    route("POST", "routes/off", Admin),
    route("POST", "routes/on", Admin),
    route("GET", "tokens", Admin),
    route("POST", "tokens", Admin),
    route("DELETE", "tokens/{name}", Admin),
];

impl ApiRoute {
    /// Whether `path` (the segments after `/admin/api/`) fits the pattern.
    fn fits(&self, path: &[&str]) -> bool {
        let parts = self.pattern.split('/');
        parts.clone().count() == path.len()
            && parts
                .zip(path)
                .all(|(part, seg)| part.starts_with('{') || part == *seg)
    }

    /// Whether a call changes something (what the audit trail records).
    pub fn mutating(&self) -> bool {
        is_mutating(self.method)
    }

    /// The audit trail's action: method and pattern, `POST destinations/{name}/pause`.
    pub fn action(&self) -> String {
        format!("{} {}", self.method, self.pattern)
    }

    /// The audit trail's target: the segments `path` puts in the pattern's `{…}` places, joined
    /// by `/` (`None` for a pattern without one).
    pub fn target(&self, path: &[&str]) -> Option<String> {
        let filled: Vec<&str> = self
            .pattern
            .split('/')
            .zip(path)
            .filter(|(part, _)| part.starts_with('{'))
            .map(|(_, seg)| *seg)
            .collect();
        (!filled.is_empty()).then(|| filled.join("/"))
    }
}

/// Whether `method` changes something: `POST`, `PUT`, `PATCH`, `DELETE`.
pub fn is_mutating(method: &str) -> bool {
    matches!(method, "POST" | "PUT" | "PATCH" | "DELETE")
}

/// The route a method (`HEAD` as `GET`) and path are, if the table has it.
pub fn find(method: &str, path: &[&str]) -> Option<&'static ApiRoute> {
    let method = if method == "HEAD" { "GET" } else { method };
    ROUTES.iter().find(|r| r.method == method && r.fits(path))
}

/// The role a call needs: its route's, or [`Role::Admin`] for anything the table lacks.
pub fn required_role(method: &str, path: &[&str]) -> Role {
    find(method, path).map_or(Admin, |r| r.role)
}

/// What the shell does with one call: whether the caller's role allows it (else the role it
/// needs, for the `403`), and the route whose audit row it writes (a mutating route of the
/// table, allowed or not).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub needed: Role,
    pub audited: Option<&'static ApiRoute>,
}

/// Decide a call of `method` on `path` by a caller with `role`.
pub fn decide(role: Role, method: &str, path: &[&str]) -> Decision {
    let route = find(method, path);
    let needed = route.map_or(Admin, |r| r.role);
    Decision {
        allowed: role.allows(needed),
        needed,
        audited: route.filter(|r| r.mutating()),
    }
}

/// The table as `handlers/access-routes.json`.
pub fn table_json() -> String {
    let rows: Vec<Value> = ROUTES
        .iter()
        .map(|r| json!({ "method": r.method, "pattern": r.pattern, "role": r.role.name() }))
        .collect();
    let mut text = serde_json::to_string_pretty(&Value::Array(rows)).unwrap_or_default();
    text.push('\n');
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_need_their_role() {
        assert_eq!(required_role("GET", &["events"]), Viewer);
        assert_eq!(required_role("HEAD", &["events", "evt_1"]), Viewer);
        assert_eq!(
            required_role("POST", &["events", "evt_1", "replay"]),
            Operator
        );
        assert_eq!(
            required_role("POST", &["destinations", "d", "pause"]),
            Operator
        );
        assert_eq!(required_role("PATCH", &["destinations", "d"]), Admin);
        assert_eq!(required_role("GET", &["tokens"]), Admin);
        assert_eq!(required_role("POST", &["redrive"]), Operator);
    }

    #[test]
    fn decisions() {
        let refused = decide(Viewer, "POST", &["redrive"]);
        assert_eq!((refused.allowed, refused.needed), (false, Operator));
        assert_eq!(
            refused.audited.map(|r| r.action()),
            Some("POST redrive".into()),
            "refused calls are audited"
        );
        let read = decide(Viewer, "GET", &["events"]);
        assert_eq!((read.allowed, read.audited), (true, None), "reads are not");
        let unknown = decide(Operator, "DELETE", &["nowhere", "x"]);
        assert_eq!(
            (unknown.allowed, unknown.needed, unknown.audited),
            (false, Admin, None)
        );
        let admin = decide(Admin, "PATCH", &["connections", "c"]);
        assert!(admin.allowed && admin.audited.is_some());
    }

    #[test]
    fn what_the_table_lacks_needs_admin() {
        assert_eq!(required_role("GET", &["nowhere"]), Admin);
        assert_eq!(required_role("POST", &["stats"]), Admin);
        assert_eq!(required_role("GET", &["events", "a", "b", "c"]), Admin);
        assert_eq!(required_role("GET", &[]), Admin);
    }

    #[test]
    fn every_read_is_a_viewer_s_but_the_token_list() {
        for r in ROUTES.iter().filter(|r| r.method == "GET") {
            let expected = if r.pattern == "tokens" { Admin } else { Viewer };
            assert_eq!(r.role, expected, "{}", r.pattern);
            assert!(!r.mutating());
        }
        for r in ROUTES.iter().filter(|r| r.method != "GET") {
            assert!(r.mutating() && r.role >= Operator, "{}", r.action());
        }
    }

    #[test]
    fn patterns_are_unique_and_unambiguous() {
        for (i, a) in ROUTES.iter().enumerate() {
            for b in &ROUTES[i + 1..] {
                assert!(
                    !(a.method == b.method && a.pattern == b.pattern),
                    "{} twice",
                    a.action()
                );
            }
            let sample: Vec<&str> = a
                .pattern
                .split('/')
                .map(|p| if p.starts_with('{') { "x" } else { p })
                .collect();
            assert_eq!(
                find(a.method, &sample),
                Some(a),
                "{} finds itself",
                a.action()
            );
        }
    }

    #[test]
    fn actions_and_targets() {
        let pause = find("POST", &["destinations", "crm", "pause"]).unwrap();
        assert_eq!(pause.action(), "POST destinations/{name}/pause");
        assert_eq!(
            pause.target(&["destinations", "crm", "pause"]).as_deref(),
            Some("crm")
        );
        let redrive = find("POST", &["redrive"]).unwrap();
        assert_eq!(redrive.target(&["redrive"]), None);
    }

    /// `handlers/access-routes.json` is generated from this table: `UPDATE_SETTINGS_JSON=1 cargo
    /// test -p edgehooks-handlers` rewrites it; otherwise it must match.
    #[test]
    fn access_routes_json_is_the_table() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/access-routes.json");
        let expected = table_json();
        if std::env::var_os("UPDATE_SETTINGS_JSON").is_some() {
            std::fs::write(path, &expected).unwrap();
        }
        let written = std::fs::read_to_string(path).unwrap_or_default();
        assert_eq!(
            written, expected,
            "run UPDATE_SETTINGS_JSON=1 cargo test -p edgehooks-handlers"
        );
    }
}

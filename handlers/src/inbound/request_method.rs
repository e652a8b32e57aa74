//! The request's method as the router knows it: one of the six methods some route takes, read
//! from the runtime's method string exactly (methods are case-sensitive, RFC 9110 §9.1; the
//! Fetch standard upper-cases `get`, `head`, `post`, `put` and `delete`, not `patch`). Any other
//! method (`PURGE`, `OPTIONS`, `PROPFIND`, …) is no [`RequestMethod`], so the router answers it
//! `405` with the path's `Allow` and never takes it for another one (workers-rs' own `Method`
//! reads an unknown method as `GET`).

/// A method some route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestMethod {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl RequestMethod {
    /// The method named `raw`; `None` for one no route takes.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "GET" => Some(Self::Get),
            "HEAD" => Some(Self::Head),
            "POST" => Some(Self::Post),
            "PUT" => Some(Self::Put),
            "PATCH" => Some(Self::Patch),
            "DELETE" => Some(Self::Delete),
            _ => None,
        }
    }

    /// Its name as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Patch => "PATCH",
            Self::Delete => "DELETE",
        }
    }

    /// The method a route is looked up by: `HEAD` is answered as `GET`.
    pub fn routed_as(self) -> Self {
        match self {
            Self::Head => Self::Get,
            other => other,
        }
    }

    /// Whether it reads (`GET`, `HEAD`): what `/health`, `/metrics` and the admin page take.
    pub fn reads(self) -> bool {
        self.routed_as() == Self::Get
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [RequestMethod; 6] = [
        RequestMethod::Get,
        RequestMethod::Head,
        RequestMethod::Post,
        RequestMethod::Put,
        RequestMethod::Patch,
        RequestMethod::Delete,
    ];

    #[test]
    fn each_known_method_reads_back_as_itself() {
        for method in ALL {
            assert_eq!(RequestMethod::parse(method.as_str()), Some(method));
        }
    }

    #[test]
    fn an_unknown_method_is_none_never_get() {
        for raw in [
            "PURGE", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "LINK", "patch", "Get", "", " GET",
        ] {
            assert_eq!(RequestMethod::parse(raw), None, "{raw:?}");
        }
    }

    #[test]
    fn head_is_routed_as_get_and_only_get_and_head_read() {
        assert_eq!(RequestMethod::Head.routed_as(), RequestMethod::Get);
        assert_eq!(RequestMethod::Post.routed_as(), RequestMethod::Post);
        let reading: Vec<_> = ALL.into_iter().filter(|m| m.reads()).collect();
        assert_eq!(reading, [RequestMethod::Get, RequestMethod::Head]);
    }
}

//! Retry policy for downstream calls: which outcomes are worth retrying, how long to wait
//! (exponential backoff with full jitter, a `Retry-After` that asks for longer wins), and when to
//! give up. Randomness is passed in so the policy is deterministic under test.

use crate::time::http_date_to_unix;

/// Longest delay a Cloudflare Queues retry accepts (12 h).
pub const QUEUE_MAX_DELAY_SECS: u64 = 12 * 3600;

/// What a downstream response (or its absence) means for the step.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResponseClass {
    Success,
    /// Network error, timeout, 408, 409, 425, 429, 5xx.
    Retryable,
    /// Any other 4xx (and unexpected 1xx/3xx): retrying cannot help.
    Permanent,
}

/// The error of a 3xx answer, `None` for any other status. Downstream calls never follow a
/// redirect: following one would re-send a signed request, with its credentials and payload, to
/// wherever the answer points. A redirect is a failed attempt, and [`ResponseClass::Permanent`]
/// (the step is `dead` at once): it says the destination's URL has changed, which the same
/// request to the same URL cannot fix however often it is retried, and the contract's retryable
/// set (network error, timeout, 408, 409, 425, 429, 5xx) leaves it out. The operator points the
/// destination at the final URL and redrives the dead steps.
pub fn redirect_error(status: u16) -> Option<String> {
    (300..400).contains(&status).then(|| {
        format!(
            "redirect_not_followed: http_{status}; edgehooks never follows redirects, point the \
             destination at the final URL"
        )
    })
}

pub fn classify_status(status: u16) -> ResponseClass {
    match status {
        200..=299 => ResponseClass::Success,
        408 | 409 | 425 | 429 | 500..=599 => ResponseClass::Retryable,
        _ => ResponseClass::Permanent,
    }
}

/// Backoff settings; defaults per docs/contract.md, *Retries, limits, circuits*.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    pub base_secs: u64,
    pub cap_secs: u64,
    pub max_attempts: u32,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_secs: 5,
            cap_secs: 6 * 3600,
            max_attempts: 10,
        }
    }
}

/// What to do with a step after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Succeeded,
    RetryAfter { delay_secs: u64 },
    Dead,
}

impl RetryPolicy {
    /// Full-jitter delay before attempt `attempts_made + 1`: uniform in
    /// `[0, min(cap, base · 2^(attempts_made − 1))]`, at least one second when non-zero.
    /// `jitter` is a uniform sample in `[0, 1)`.
    pub fn backoff_secs(&self, attempts_made: u32, jitter: f64) -> u64 {
        let exponent = attempts_made.saturating_sub(1).min(40);
        let ceiling = self
            .base_secs
            .saturating_mul(1u64 << exponent)
            .min(self.cap_secs);
        if ceiling == 0 {
            return 0;
        }
        let jitter = if jitter.is_finite() {
            jitter.clamp(0.0, 1.0)
        } else {
            0.0
        };
        ((ceiling as f64 * jitter) as u64).clamp(1, ceiling)
    }

    /// Decide after attempt number `attempts_made` (1-based) ended in `class`.
    pub fn decide(
        &self,
        class: ResponseClass,
        attempts_made: u32,
        retry_after_secs: Option<u64>,
        jitter: f64,
    ) -> Decision {
        match class {
            ResponseClass::Success => Decision::Succeeded,
            ResponseClass::Permanent => Decision::Dead,
            ResponseClass::Retryable if attempts_made >= self.max_attempts => Decision::Dead,
            ResponseClass::Retryable => {
                let backoff = self.backoff_secs(attempts_made, jitter);
                let delay = backoff
                    .max(retry_after_secs.unwrap_or(0))
                    .min(QUEUE_MAX_DELAY_SECS);
                Decision::RetryAfter { delay_secs: delay }
            }
        }
    }
}

/// `Retry-After` as delta-seconds or an HTTP date, relative to `now_unix`.
pub fn parse_retry_after(value: &str, now_unix: i64) -> Option<u64> {
    let value = value.trim();
    if let Ok(secs) = value.parse::<u64>() {
        return Some(secs);
    }
    let at = http_date_to_unix(value)?;
    Some(u64::try_from(at.saturating_sub(now_unix)).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(classify_status(200), ResponseClass::Success);
        assert_eq!(classify_status(204), ResponseClass::Success);
        for s in [408, 409, 425, 429, 500, 502, 503, 599] {
            assert_eq!(classify_status(s), ResponseClass::Retryable, "{s}");
        }
        for s in [100, 301, 400, 401, 403, 404, 410, 422] {
            assert_eq!(classify_status(s), ResponseClass::Permanent, "{s}");
        }
    }

    #[test]
    fn a_redirect_is_a_permanent_failure_with_its_own_error() {
        for status in [301, 302, 303, 307, 308] {
            assert_eq!(
                classify_status(status),
                ResponseClass::Permanent,
                "{status}"
            );
            let error = redirect_error(status).unwrap();
            assert!(error.starts_with(&format!("redirect_not_followed: http_{status};")));
            assert_eq!(
                crate::admin::error_code(Some(&error)), // up: test: dead letters group by this code
                "redirect_not_followed"
            );
        }
        for status in [200, 204, 400, 429, 500] {
            assert_eq!(redirect_error(status), None, "{status}");
        }
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let p = RetryPolicy::default();
        assert_eq!(p.backoff_secs(1, 0.999_999), 4);
        assert_eq!(p.backoff_secs(2, 0.999_999), 9);
        assert_eq!(p.backoff_secs(3, 0.5), 10);
        assert_eq!(p.backoff_secs(30, 0.999_999), 6 * 3600 - 1);
        assert_eq!(p.backoff_secs(1, 0.0), 1);
        assert_eq!(p.backoff_secs(1, f64::NAN), 1);
        let zero = RetryPolicy { base_secs: 0, ..p };
        assert_eq!(zero.backoff_secs(5, 0.9), 0);
    }

    #[test]
    fn decisions() {
        let p = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        assert_eq!(
            p.decide(ResponseClass::Success, 1, None, 0.5),
            Decision::Succeeded
        );
        assert_eq!(
            p.decide(ResponseClass::Permanent, 1, None, 0.5),
            Decision::Dead
        );
        assert_eq!(
            p.decide(ResponseClass::Retryable, 3, None, 0.5),
            Decision::Dead
        );
        assert_eq!(
            p.decide(ResponseClass::Retryable, 1, Some(120), 0.5),
            Decision::RetryAfter { delay_secs: 120 }
        );
        assert_eq!(
            p.decide(ResponseClass::Retryable, 1, Some(10 * 24 * 3600), 0.5),
            Decision::RetryAfter {
                delay_secs: QUEUE_MAX_DELAY_SECS
            }
        );
    }

    #[test]
    fn retry_after_forms() {
        assert_eq!(parse_retry_after("30", 0), Some(30));
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:20 GMT", 1_700_000_000 - 90),
            Some(90)
        );
        assert_eq!(
            parse_retry_after("Tue, 14 Nov 2023 22:13:20 GMT", 1_800_000_000),
            Some(0)
        );
        assert_eq!(parse_retry_after("soon", 0), None);
        assert_eq!(parse_retry_after("-5", 0), None);
    }
}

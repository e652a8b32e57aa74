//! How a number read back from D1 becomes an integer. D1 hands every SQLite INTEGER to the
//! worker as a JavaScript number (an f64), so a column read as an integer is accepted only when
//! that f64 holds one exactly: finite, without a fraction, and within ±(2^53 − 1), the range in
//! which every integer has its own f64 (the rule `serde_wasm_bindgen` applied to `i64` fields
//! before rows were read by hand). Anything else is refused rather than rounded or saturated, so a
//! mistyped column becomes an error instead of a silent wrong value.

/// The largest integer an f64 holds exactly next to its neighbours (`Number.MAX_SAFE_INTEGER`).
pub const MAX_SAFE_INTEGER: f64 = 9_007_199_254_740_991.0;

/// `value` as an i64 when it is an integer in the safe range, `None` otherwise (NaN, ±infinity,
/// a fraction, or beyond ±`MAX_SAFE_INTEGER`).
pub fn integer(value: f64) -> Option<i64> {
    if value.is_finite() && value.fract() == 0.0 && value.abs() <= MAX_SAFE_INTEGER {
        // In range and integral: the conversion is exact.
        Some(value as i64)
    } else {
        None
    }
}

/// `value` as a count (a non-negative [`integer`]).
pub fn count(value: f64) -> Option<usize> {
    integer(value).and_then(|n| usize::try_from(n).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_in_the_safe_range_convert_exactly() {
        assert_eq!(integer(0.0), Some(0));
        assert_eq!(integer(-0.0), Some(0));
        assert_eq!(integer(1.0), Some(1));
        assert_eq!(integer(-42.0), Some(-42));
        assert_eq!(integer(1_700_000_000_000.0), Some(1_700_000_000_000));
        assert_eq!(integer(MAX_SAFE_INTEGER), Some(9_007_199_254_740_991));
        assert_eq!(integer(-MAX_SAFE_INTEGER), Some(-9_007_199_254_740_991));
    }

    #[test]
    fn anything_else_is_refused() {
        assert_eq!(integer(f64::NAN), None);
        assert_eq!(integer(f64::INFINITY), None);
        assert_eq!(integer(f64::NEG_INFINITY), None);
        assert_eq!(integer(1.5), None);
        assert_eq!(integer(-0.25), None);
        assert_eq!(integer(MAX_SAFE_INTEGER + 1.0), None);
        assert_eq!(integer(-MAX_SAFE_INTEGER - 1.0), None);
        assert_eq!(integer(1e300), None);
        assert_eq!(integer(f64::MIN), None);
    }

    #[test]
    fn counts_are_non_negative_integers() {
        assert_eq!(count(0.0), Some(0));
        assert_eq!(count(7.0), Some(7));
        assert_eq!(count(-1.0), None);
        assert_eq!(count(2.5), None);
        assert_eq!(count(f64::NAN), None);
    }
}

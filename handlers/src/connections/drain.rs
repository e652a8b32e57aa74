//! Pausing and draining an `http` destination: where one of its steps stands in the line, and
//! the order a drain releases parked steps in. While the destination is paused, a step of it
//! that runs is parked (`enqueued`, reason `destination_paused`, no attempt spent) and looks
//! again every [`PAUSED_PARK_SECS`]. A resume releases the parked steps in pages, oldest first
//! (by `created_at`, then insertion order): a release makes the oldest parked steps `pending`
//! with reason `destination_draining` under a new dispatch number, and they are sent. A release
//! applies only while the destination is not paused and no step of the page before is still
//! waiting for its claim, so the claim that takes a page's last step releases the next page in
//! the same D1 transaction: no step is claimed before every step of the pages before its own
//! was, and no step waits by deferring itself again and again (each drained step costs a
//! constant amount of work). A step that is not parked while older ones of its destination
//! are parked or released joins the line (parked at its own place in it) instead of overtaking
//! them; a parked step whose message comes while its destination is active only asks for a
//! release, since its own page comes in turn. Lost wake-ups: a released page whose send failed
//! is still `pending` and the sweeper sends it after a minute; the sweeper re-sends a lost
//! message of a released or parked step; each parked step's look-again also asks for a release.
//! A resume that finds a page still out sends it again (under new dispatch numbers) instead of
//! releasing the next: its messages may have been lost before the resume (a failed send, a
//! killed runtime, the destination paused meanwhile), and a drain must not then wait for the
//! sweeper. A second message of a step is harmless: only one claim takes it.
//! The SQL is in [`super::sql`].

/// How long a step of a paused destination is parked before it looks again by itself.
pub const PAUSED_PARK_SECS: u64 = 300;
/// The reason stored on a parked step (paused destination, or in line behind a drain).
pub const PAUSED_REASON: &str = "destination_paused";
/// The reason stored on a step a drain released, until it is claimed.
pub const DRAINING_REASON: &str = "destination_draining";
/// Most parked steps one release sends (one `sendBatch`: Queues take at most 100 per call).
pub const MAX_PAGE: u32 = 100;

/// What D1 holds about a destination's line when one of its steps runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Line {
    /// Some step of the destination is parked.
    pub parked: bool,
    /// Some step of the destination was released and is not claimed yet.
    pub released: bool,
}

/// What a step of an `http` destination does about the line before anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Place {
    /// The destination is paused: park (no attempt), look again in [`PAUSED_PARK_SECS`].
    Park,
    /// Parked, and the destination is active: ask for a release (its page comes in turn), ack.
    AwaitRelease,
    /// Released by a drain: claim it, asking in the same transaction for the next release.
    Released,
    /// Older steps are parked or released: park behind them (and ask for a release), ack.
    Join,
    /// No line: claim it as usual.
    Go,
}

/// Where a step whose stored reason is `reason` stands, its destination `paused` or not, with
/// `line` as D1 holds it.
pub fn place(paused: bool, reason: Option<&str>, line: Line) -> Place {
    if paused {
        return Place::Park;
    }
    match reason {
        Some(PAUSED_REASON) => Place::AwaitRelease,
        Some(DRAINING_REASON) => Place::Released,
        _ if line.parked || line.released => Place::Join,
        _ => Place::Go,
    }
}

/// The page size a drain releases: the setting, within 1..=[`MAX_PAGE`].
pub fn page_size(setting: u64) -> u32 {
    u32::try_from(setting)
        .unwrap_or(MAX_PAGE)
        .clamp(1, MAX_PAGE)
}

/// A step a release just made `pending`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasedStep {
    pub id: String,
    /// Its new dispatch number (its message carries it).
    pub dispatch: i64,
    pub created_at: i64,
    /// Its insertion order (`rowid`): the tie-break between steps stored in the same ms.
    pub seq: i64,
}

/// A released page in the order it is sent: oldest first (the statement's own answer has no
/// order of its own).
pub fn in_line_order(mut page: Vec<ReleasedStep>) -> Vec<ReleasedStep> {
    page.sort_by_key(|s| (s.created_at, s.seq));
    page
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_LINE: Line = Line {
        parked: false,
        released: false,
    };

    #[test]
    fn a_paused_destination_parks_every_step() {
        for reason in [
            None,
            Some(PAUSED_REASON),
            Some(DRAINING_REASON),
            Some("http_503"),
        ] {
            assert_eq!(place(true, reason, NO_LINE), Place::Park);
        }
    }

    #[test]
    fn an_active_destination_drains_in_line() {
        let busy = Line {
            parked: true,
            released: false,
        };
        let page_out = Line {
            parked: false,
            released: true,
        };
        assert_eq!(place(false, Some(PAUSED_REASON), busy), Place::AwaitRelease);
        assert_eq!(
            place(false, Some(PAUSED_REASON), NO_LINE),
            Place::AwaitRelease
        );
        assert_eq!(place(false, Some(DRAINING_REASON), busy), Place::Released);
        assert_eq!(place(false, None, busy), Place::Join);
        assert_eq!(place(false, Some("rate_limited"), page_out), Place::Join);
        assert_eq!(place(false, None, NO_LINE), Place::Go);
        assert_eq!(place(false, Some("http_503"), NO_LINE), Place::Go);
    }

    #[test]
    fn pages_stay_within_one_send() {
        assert_eq!(page_size(0), 1);
        assert_eq!(page_size(10), 10);
        assert_eq!(page_size(100), 100);
        assert_eq!(page_size(u64::MAX), MAX_PAGE);
    }

    #[test]
    fn a_page_is_sent_oldest_first() {
        let step = |id: &str, created_at, seq| ReleasedStep {
            id: id.into(),
            dispatch: 1,
            created_at,
            seq,
        };
        let page = vec![step("c", 2, 9), step("a", 1, 5), step("b", 2, 3)];
        let ids: Vec<String> = in_line_order(page).into_iter().map(|s| s.id).collect();
        assert_eq!(ids, ["a", "b", "c"]);
    }
}

//! The order in which one window's HubSpot batch upserts go out, given what each call got.
//! [`CallSequence`] starts from the core's plan (`hubspot_batch::plan_calls`) and, call by call,
//! says which inputs to send and which to hand back: an input HubSpot was asked to send alone
//! (`InputAnswer::Alone`) goes next in a call of its own; once an input of a contact was not
//! settled (it will be retried, or was handed back), every later input of that contact in the
//! window is handed back uncharged ([`AFTER_UNSETTLED_INPUT`]), each [`Held`] behind the
//! contact's input just before it (the one that was not settled, or the one held before it), so
//! an older update retried later never overwrites a newer one already applied: the step handed
//! back waits until the one it is behind has ended (`crate::steps::behind`), which a fixed
//! delay could not promise (that one's retry is due after its own backoff or `Retry-After`, and
//! may fail again). [`reporter`] names the input whose step reports a call to the destination's
//! circuit: the first one the call answered.

use std::collections::VecDeque;

use super::hubspot_batch::{plan_calls, InputAnswer};

/// The reason a later input of a contact is handed back after an earlier one was not settled.
pub const AFTER_UNSETTLED_INPUT: &str = "hubspot_batch_after_unsettled_input";

/// The next call of a window: the inputs to send (indexes into the window's inputs; empty when
/// every one is handed back), and those handed back without a call.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NextCall {
    pub send: Vec<usize>,
    pub held: Vec<Held>,
}

/// An input handed back without a call, and the earlier input of its contact it must not
/// overtake (indexes into the window's inputs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Held {
    pub index: usize,
    pub behind: usize,
}

/// The calls still to make for a window's inputs (see the module doc).
#[derive(Debug)]
pub struct CallSequence {
    contacts: Vec<String>,
    calls: VecDeque<Vec<usize>>,
    /// Contacts with an input that was not settled, each with its latest such input (a list:
    /// at most a window's inputs).
    unsettled: Vec<(String, usize)>,
}

impl CallSequence {
    /// The sequence for inputs whose contacts are `contacts`, in the order they should apply,
    /// at most `max` inputs a call.
    pub fn new(contacts: &[&str], max: usize) -> Self {
        CallSequence {
            contacts: contacts.iter().map(|c| (*c).to_string()).collect(),
            calls: plan_calls(contacts, max).into(),
            unsettled: Vec::new(),
        }
    }

    /// The next call, `None` when every input has been sent or handed back.
    pub fn next_call(&mut self) -> Option<NextCall> {
        let call = self.calls.pop_front()?;
        let mut next = NextCall::default();
        // A call names a contact at most once, so a held input never stands behind another
        // input of the same call.
        for index in call {
            match self.latest_unsettled(index) {
                Some(behind) => {
                    next.held.push(Held { index, behind });
                    self.unsettle(index);
                }
                None => next.send.push(index),
            }
        }
        Some(next)
    }

    /// What the inputs `sent` (as [`NextCall::send`] gave them) got, in order; `call_retried`:
    /// the call's own answer is one a step retries (for inputs whose answer is the call's).
    pub fn answered(&mut self, sent: &[usize], answers: &[InputAnswer], call_retried: bool) {
        let mut alone = Vec::new();
        for (&index, answer) in sent.iter().zip(answers) {
            match answer {
                InputAnswer::Alone => alone.push(vec![index]),
                answer if settles(answer, call_retried) => {}
                _ => self.unsettle(index),
            }
        }
        for call in alone.into_iter().rev() {
            self.calls.push_front(call);
        }
    }

    /// The inputs `sent` were handed back without a call (the budget or the circuit held it).
    pub fn handed_back(&mut self, sent: &[usize]) {
        for &index in sent {
            self.unsettle(index);
        }
    }

    /// Record `index` as its contact's latest input that was not settled.
    fn unsettle(&mut self, index: usize) {
        let Some(contact) = self.contacts.get(index) else {
            return;
        };
        match self.unsettled.iter_mut().find(|(c, _)| c == contact) {
            Some(entry) => entry.1 = index,
            None => self.unsettled.push((contact.clone(), index)),
        }
    }

    /// The latest input of `index`'s contact that was not settled, if any.
    fn latest_unsettled(&self, index: usize) -> Option<usize> {
        let contact = self.contacts.get(index)?;
        self.unsettled
            .iter()
            .find(|(c, _)| c == contact)
            .map(|&(_, latest)| latest)
    }
}

/// Whether an input that got `answer` is settled: applied, or refused for good. Anything else
/// (retried, handed back, unknown) is not, to be safe.
fn settles(answer: &InputAnswer, call_retried: bool) -> bool {
    match answer {
        InputAnswer::Applied { .. } => true,
        InputAnswer::Failed { status, .. } => *status == Some(400),
        InputAnswer::AsCall => !call_retried,
        InputAnswer::NotAttempted { .. } | InputAnswer::Alone => false,
    }
}

/// The index (among a call's `answers`) of the input whose step reports the call to the
/// circuit: the first the call answered (not handed back, not to be sent alone). `None`: the
/// call answered nobody, so nobody reports it (a probe it held must be released).
pub fn reporter(answers: &[InputAnswer]) -> Option<usize> {
    answers
        .iter()
        .position(|a| !matches!(a, InputAnswer::NotAttempted { .. } | InputAnswer::Alone))
}

#[cfg(test)]
mod tests {
    use super::super::hubspot_batch::REFUSED_FOR_ANOTHER;
    use super::*;

    fn failed(status: Option<u16>) -> InputAnswer {
        InputAnswer::Failed {
            status,
            error: "e".into(),
        }
    }

    /// `held`: (input, the input it is behind).
    fn next(send: &[usize], held: &[(usize, usize)]) -> Option<NextCall> {
        Some(NextCall {
            send: send.to_vec(),
            held: held
                .iter()
                .map(|&(index, behind)| Held { index, behind })
                .collect(),
        })
    }

    #[test]
    fn an_older_input_that_failed_holds_back_the_newer_ones_of_its_contact() {
        // a (older), b, a (newer), c: the newer `a` goes in a second call.
        let mut seq = CallSequence::new(&["a", "b", "a", "c"], 100);
        assert_eq!(seq.next_call(), next(&[0, 1, 3], &[]));
        // The call got a 429: every input is retried later, so the newer `a` must not go now.
        seq.answered(&[0, 1, 3], &vec![InputAnswer::AsCall; 3], true);
        assert_eq!(seq.next_call(), next(&[], &[(2, 0)]));
        assert_eq!(seq.next_call(), None);
    }

    #[test]
    fn only_the_contacts_left_unsettled_are_held_back() {
        let mut seq = CallSequence::new(&["a", "b", "a", "b", "c"], 100);
        assert_eq!(seq.next_call(), next(&[0, 1, 4], &[]));
        let applied = InputAnswer::Applied { body: None };
        seq.answered(&[0, 1, 4], &[applied.clone(), failed(None), applied], false);
        assert_eq!(seq.next_call(), next(&[2], &[(3, 1)]));
        assert_eq!(seq.next_call(), None);
    }

    #[test]
    fn settled_inputs_let_the_next_go() {
        // Applied, refused for good (per input or as a permanent call answer): the next input of
        // the contact still goes.
        for (answer, retried) in [
            (InputAnswer::Applied { body: None }, false),
            (failed(Some(400)), false),
            (InputAnswer::AsCall, false),
        ] {
            let mut seq = CallSequence::new(&["a", "a"], 100);
            assert_eq!(seq.next_call(), next(&[0], &[]));
            seq.answered(&[0], &[answer], retried);
            assert_eq!(seq.next_call(), next(&[1], &[]));
        }
        // Handed back (refused for another input, or held by the budget): not settled.
        let mut seq = CallSequence::new(&["a", "a"], 100);
        seq.next_call();
        let back = InputAnswer::NotAttempted {
            reason: REFUSED_FOR_ANOTHER,
        };
        seq.answered(&[0], &[back], false);
        assert_eq!(seq.next_call(), next(&[], &[(1, 0)]));
        let mut seq = CallSequence::new(&["a", "a"], 100);
        seq.next_call();
        seq.handed_back(&[0]);
        assert_eq!(seq.next_call(), next(&[], &[(1, 0)]));
    }

    #[test]
    fn several_newer_inputs_are_each_held_behind_the_one_before_them() {
        // a1 fails; a2 is behind a1 and a3 behind a2 (not a1): each comes back only once the
        // one before it has ended, so the three apply in order whatever invocation runs them.
        let mut seq = CallSequence::new(&["a", "b", "a", "a", "b"], 100);
        assert_eq!(seq.next_call(), next(&[0, 1], &[]));
        let applied = InputAnswer::Applied { body: None };
        seq.answered(&[0, 1], &[failed(None), applied], false);
        assert_eq!(seq.next_call(), next(&[4], &[(2, 0)]));
        seq.answered(&[4], &[InputAnswer::Applied { body: None }], false);
        assert_eq!(seq.next_call(), next(&[], &[(3, 2)]));
        assert_eq!(seq.next_call(), None);
    }

    #[test]
    fn an_input_sent_alone_that_fails_holds_back_the_later_ones() {
        let mut seq = CallSequence::new(&["a", "b", "a"], 100);
        assert_eq!(seq.next_call(), next(&[0, 1], &[]));
        seq.answered(&[0, 1], &[InputAnswer::Alone, InputAnswer::Alone], false);
        assert_eq!(seq.next_call(), next(&[0], &[]));
        seq.answered(&[0], &[InputAnswer::AsCall], true);
        assert_eq!(seq.next_call(), next(&[1], &[]));
        seq.answered(&[1], &[InputAnswer::AsCall], false);
        assert_eq!(seq.next_call(), next(&[], &[(2, 0)]));
    }

    #[test]
    fn inputs_to_send_alone_go_next_one_call_each_before_later_inputs() {
        let mut seq = CallSequence::new(&["a", "b", "a"], 100);
        assert_eq!(seq.next_call(), next(&[0, 1], &[]));
        seq.answered(&[0, 1], &[InputAnswer::Alone, InputAnswer::Alone], false);
        assert_eq!(seq.next_call(), next(&[0], &[]));
        seq.answered(&[0], &[InputAnswer::Applied { body: None }], false);
        assert_eq!(seq.next_call(), next(&[1], &[]));
        seq.answered(&[1], &[InputAnswer::AsCall], false);
        assert_eq!(seq.next_call(), next(&[2], &[]));
        assert_eq!(seq.next_call(), None);
    }

    #[test]
    fn the_first_answered_input_reports_the_call() {
        let back = InputAnswer::NotAttempted {
            reason: REFUSED_FOR_ANOTHER,
        };
        assert_eq!(reporter(&[InputAnswer::AsCall, back.clone()]), Some(0));
        assert_eq!(reporter(&[back.clone(), failed(Some(400))]), Some(1));
        assert_eq!(reporter(&[InputAnswer::Alone, InputAnswer::Alone]), None);
        assert_eq!(reporter(&[back]), None);
        assert_eq!(reporter(&[]), None);
    }
}

//! HubSpot contact upserts of one message batch sent as batch upserts: each step plans its own
//! one-input `POST /crm/v3/objects/contacts/batch/upsert` (`hubspot::upsert_contact`); the shell
//! gathers the inputs of the steps that are claimed and cleared together, and this module decides
//! how they go out and what each step got back. [`upsert_input`] takes a step's input out of its
//! planned body and tags it with the step id as `objectWriteTraceId` (HubSpot echoes it in the
//! input's result or error); [`plan_calls`] splits the inputs into calls of at most
//! [`MAX_INPUTS_PER_CALL`] in which no contact appears twice (HubSpot refuses a batch that names
//! one id twice; a later input of the same contact goes in a later call, so two updates of one
//! person are applied in order); [`call_body`] writes a call's body; [`read_answer`] maps the
//! call's answer to each input: applied, refused alone (a failed attempt of that step only), not
//! attempted because of another input (its claim given back, uncharged), to be sent again alone
//! (a 400 for several inputs that names none: each then gets its own verdict), or the call's own
//! answer (429, 5xx, a timeout: every step of the call retries as it would alone). No answer
//! shape panics: what cannot be read is a retryable failure of the inputs it may concern.

use serde_json::{json, Map, Value};

/// HubSpot's most inputs per batch call.
pub const MAX_INPUTS_PER_CALL: usize = 100;

/// The error of an input a multi-status answer neither applied nor refused by name.
pub const UNATTRIBUTED: &str = "hubspot_batch_unattributed";
/// The error of an input HubSpot refused as a duplicate of another in the same call.
pub const DUPLICATE_INPUT: &str = "hubspot_duplicate_input";
/// The reason an input's claim is given back when HubSpot refused its call for another input.
pub const REFUSED_FOR_ANOTHER: &str = "hubspot_batch_refused_for_another";

/// One step's contact upsert as an input of a batch call.
#[derive(Debug, Clone, PartialEq)]
pub struct UpsertInput {
    /// The step id, sent as `objectWriteTraceId`.
    pub trace: String,
    /// The contact's id (the email, as `idProperty=email` reads it), in ASCII lowercase: HubSpot
    /// compares emails without case.
    pub contact: String,
    /// The input object as sent (`idProperty`, `id`, `properties`, `objectWriteTraceId`).
    pub input: Value,
}

/// The single input of a step's planned upsert body, tagged with `step_id`; `None` unless the
/// body is a batch upsert of exactly one input with a string `id`.
pub fn upsert_input(step_id: &str, body: &str) -> Option<UpsertInput> {
    let parsed: Value = serde_json::from_str(body).ok()?;
    let [input] = parsed.get("inputs")?.as_array()?.as_slice() else {
        return None;
    };
    let mut input = input.as_object()?.clone();
    let contact = input.get("id")?.as_str()?.trim().to_ascii_lowercase();
    input.insert("objectWriteTraceId".into(), Value::from(step_id));
    Some(UpsertInput {
        trace: step_id.to_string(),
        contact,
        input: Value::Object(input),
    })
}

/// The calls for inputs whose contacts are `contacts` (in the order they should apply): each
/// call lists input indexes, at most `max` of them, no contact twice; an input goes in the
/// first call with room after every call holding an earlier input of its contact. Calls are
/// to be made one after another, in this order.
pub fn plan_calls(contacts: &[&str], max: usize) -> Vec<Vec<usize>> {
    let max = max.max(1);
    let mut calls: Vec<Vec<usize>> = Vec::new();
    // At most a few hundred inputs: a list is smaller in the wasm than a map, and fast enough.
    let mut last_call_of: Vec<(&str, usize)> = Vec::new();
    for (index, &contact) in contacts.iter().enumerate() {
        let seen = last_call_of.iter().position(|(c, _)| *c == contact);
        let earliest = seen
            .and_then(|at| last_call_of.get(at))
            .map_or(0, |(_, call)| call + 1);
        let call = (earliest..calls.len())
            .find(|&c| calls.get(c).is_some_and(|list| list.len() < max))
            .unwrap_or_else(|| {
                calls.push(Vec::new());
                calls.len() - 1
            });
        if let Some(list) = calls.get_mut(call) {
            list.push(index);
        }
        match seen.and_then(|at| last_call_of.get_mut(at)) {
            Some(entry) => entry.1 = call,
            None => last_call_of.push((contact, call)),
        }
    }
    calls
}

/// The body of one batch call.
pub fn call_body(inputs: &[&UpsertInput]) -> String {
    let inputs: Vec<&Value> = inputs.iter().map(|i| &i.input).collect();
    json!({ "inputs": inputs }).to_string()
}

/// What one input of a batch call got.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputAnswer {
    /// HubSpot applied it; `body` is its own result as a one-result answer
    /// (`{"results":[…]}`), for what the step's success writes, when it could be told apart.
    Applied { body: Option<String> },
    /// A failed attempt of this input's step alone, classified as a call answered `status`
    /// would be (`None`: a retryable failure without an answer).
    Failed { status: Option<u16>, error: String },
    /// HubSpot refused the call because of other inputs and applied nothing: the step is put
    /// back without being charged an attempt, with this reason.
    NotAttempted { reason: &'static str },
    /// HubSpot refused the call (a 400) without saying for which input, and applied nothing:
    /// the input is sent again in a call of its own, whose answer is then its verdict.
    Alone,
    /// The call's own answer is this input's (429, 5xx, a timeout, a network error, 401...).
    AsCall,
}

/// Map a batch call's answer (`status`, `None` when no answer came; `body`, the start of the
/// answer) to its `inputs`, in order.
pub fn read_answer(
    status: Option<u16>,
    body: Option<&str>,
    inputs: &[&UpsertInput],
) -> Vec<InputAnswer> {
    let parsed = body.and_then(|b| serde_json::from_str::<Value>(b).ok());
    match status {
        Some(207) => multi_status(parsed.as_ref(), inputs),
        Some(200..=299) => applied_all(parsed.as_ref(), inputs),
        Some(400) if inputs.len() > 1 => refused_batch(parsed.as_ref(), inputs),
        _ => vec![InputAnswer::AsCall; inputs.len()],
    }
}

/// A 2xx other than 207: every input was applied.
fn applied_all(parsed: Option<&Value>, inputs: &[&UpsertInput]) -> Vec<InputAnswer> {
    let results = results_of(parsed);
    inputs
        .iter()
        .map(|input| InputAnswer::Applied {
            body: own_result(&results, input, inputs.len()),
        })
        .collect()
}

/// A 207: inputs named by an error failed alone; inputs with a result were applied; anything
/// else is a retryable failure (HubSpot did not say).
fn multi_status(parsed: Option<&Value>, inputs: &[&UpsertInput]) -> Vec<InputAnswer> {
    let results = results_of(parsed);
    let errors: Vec<&Value> = parsed
        .and_then(|p| p.get("errors"))
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default();
    inputs
        .iter()
        .map(|input| {
            if let Some(error) = errors.iter().find(|e| names(e, input)) {
                return per_input_failure(error);
            }
            match own_result(&results, input, 0) {
                Some(body) => InputAnswer::Applied { body: Some(body) },
                None => InputAnswer::Failed {
                    status: None,
                    error: UNATTRIBUTED.into(),
                },
            }
        })
        .collect()
}

/// A 400 for a call of several inputs: HubSpot applied none. Inputs it names are this call's
/// fault (a duplicate id: retried, charged; anything else: refused as `400`); the others are
/// put back uncharged. A refusal that names no input may be any one input's (a property one
/// input writes that the portal lacks): every input is sent again alone.
fn refused_batch(parsed: Option<&Value>, inputs: &[&UpsertInput]) -> Vec<InputAnswer> {
    let Some(error) = parsed.filter(|error| inputs.iter().any(|input| names(error, input))) else {
        return vec![InputAnswer::Alone; inputs.len()];
    };
    let duplicate = message_of(error).to_ascii_lowercase().contains("duplicate");
    inputs
        .iter()
        .map(|input| match (names(error, input), duplicate) {
            (true, true) => InputAnswer::Failed {
                status: None,
                error: DUPLICATE_INPUT.into(),
            },
            (true, false) => InputAnswer::Failed {
                status: Some(400),
                error: describe(error),
            },
            (false, _) => InputAnswer::NotAttempted {
                reason: REFUSED_FOR_ANOTHER,
            },
        })
        .collect()
}

/// A per-input error of a 207: permanent (`400`) unless its category says HubSpot itself
/// failed or was busy.
fn per_input_failure(error: &Value) -> InputAnswer {
    let category = error.get("category").and_then(Value::as_str).unwrap_or("");
    let transient = ["RATE_LIMIT", "INTERNAL", "UNAVAILABLE", "TIMEOUT"]
        .iter()
        .any(|word| category.to_ascii_uppercase().contains(word));
    InputAnswer::Failed {
        status: (!transient).then_some(400),
        error: describe(error),
    }
}

/// `hubspot_input_refused: <category>: <message>`, cut short.
fn describe(error: &Value) -> String {
    let category = error.get("category").and_then(Value::as_str).unwrap_or("");
    let text = format!("hubspot_input_refused: {category}: {}", message_of(error));
    text.chars().take(200).collect()
}

fn message_of(error: &Value) -> &str {
    error.get("message").and_then(Value::as_str).unwrap_or("")
}

fn results_of(parsed: Option<&Value>) -> Vec<&Value> {
    parsed
        .and_then(|p| p.get("results"))
        .and_then(Value::as_array)
        .map(|list| list.iter().collect())
        .unwrap_or_default()
}

/// The result of `input`, as a one-result answer: the one echoing its trace id or its email,
/// else (`only` = 1: a call of one input) the only result.
fn own_result(results: &[&Value], input: &UpsertInput, only: usize) -> Option<String> {
    let traced = |r: &&&Value| {
        r.get("objectWriteTraceId").and_then(Value::as_str) == Some(input.trace.as_str())
    };
    let by_email = |r: &&&Value| {
        r.pointer("/properties/email")
            .and_then(Value::as_str)
            .is_some_and(|e| e.trim().eq_ignore_ascii_case(&input.contact))
    };
    let found = results
        .iter()
        .find(traced)
        .or_else(|| results.iter().find(by_email))
        .or(match (only, results) {
            (1, [one]) => Some(one),
            _ => None,
        })?;
    Some(json!({ "results": [found] }).to_string())
}

/// Whether `error` names `input`: some text in it (its message, context or nested errors) has
/// a token equal to the input's trace id or email.
fn names(error: &Value, input: &UpsertInput) -> bool {
    let mut texts = Vec::new();
    collect_texts(error, &mut texts, 0);
    texts.iter().any(|text| {
        text.split(is_separator).any(|token| {
            token == input.trace
                || (!input.contact.is_empty() && token.eq_ignore_ascii_case(&input.contact))
        })
    })
}

/// Characters that never occur inside an email or a step id, so they end a token.
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            ',' | '[' | ']' | '{' | '}' | '(' | ')' | '"' | '\'' | '=' | ';' | '<' | '>'
        )
}

/// Every string in `value` (keys included), to a bounded depth.
fn collect_texts<'v>(value: &'v Value, out: &mut Vec<&'v str>, depth: usize) {
    if depth > 6 {
        return;
    }
    match value {
        Value::String(s) => out.push(s),
        Value::Array(list) => list.iter().for_each(|v| collect_texts(v, out, depth + 1)),
        Value::Object(map) => collect_object(map, out, depth),
        _ => {}
    }
}

fn collect_object<'v>(map: &'v Map<String, Value>, out: &mut Vec<&'v str>, depth: usize) {
    for (key, value) in map {
        out.push(key);
        collect_texts(value, out, depth + 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input(step: &str, email: &str) -> UpsertInput {
        let body = json!({"inputs": [{"idProperty": "email", "id": email, "properties": {"email": email}}]});
        upsert_input(step, &body.to_string()).expect("input")
    }

    #[test]
    fn a_steps_input_is_tagged_with_its_step_id() {
        let i = input("evt_1:hubspot.upsert_contact", "Ada@Example.com");
        assert_eq!(i.contact, "ada@example.com");
        assert_eq!(
            i.input["objectWriteTraceId"],
            "evt_1:hubspot.upsert_contact"
        );
        assert_eq!(i.input["id"], "Ada@Example.com");
        assert_eq!(upsert_input("s", r#"{"inputs":[]}"#), None);
        assert_eq!(upsert_input("s", r#"{"inputs":[{"id":1}]}"#), None);
        assert_eq!(upsert_input("s", "not json"), None);
        let two = r#"{"inputs":[{"id":"a@x"},{"id":"b@x"}]}"#;
        assert_eq!(upsert_input("s", two), None);
    }

    #[test]
    fn calls_hold_at_most_the_maximum_and_no_contact_twice() {
        assert_eq!(plan_calls(&["a", "b", "c"], 100), vec![vec![0, 1, 2]]);
        assert_eq!(plan_calls(&["a", "b", "c"], 2), vec![vec![0, 1], vec![2]]);
        // A second update of `a` goes in a later call, after the first.
        assert_eq!(
            plan_calls(&["a", "b", "a", "c", "a"], 100),
            vec![vec![0, 1, 3], vec![2], vec![4]]
        );
        assert!(plan_calls(&[], 100).is_empty());
        let many: Vec<String> = (0..250).map(|i| format!("p{i}@x")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        let calls = plan_calls(&refs, MAX_INPUTS_PER_CALL);
        let sizes: Vec<usize> = calls.iter().map(Vec::len).collect();
        assert_eq!(sizes, vec![100, 100, 50]);
    }

    #[test]
    fn plan_calls_keeps_every_input_once_and_orders_each_contact() {
        // Every input is placed exactly once, within the maximum, and each contact's inputs go
        // in strictly later calls, for every sequence over three contacts of up to seven inputs.
        for n in 0..=7u32 {
            for code in 0..3u32.pow(n) {
                let contacts: Vec<&str> = (0..n)
                    .map(|k| ["a", "b", "c"][((code / 3u32.pow(k)) % 3) as usize])
                    .collect();
                let calls = plan_calls(&contacts, 2);
                let mut placed: Vec<usize> = calls.iter().flatten().copied().collect();
                placed.sort_unstable();
                assert_eq!(placed, (0..contacts.len()).collect::<Vec<_>>());
                assert!(calls.iter().all(|c| !c.is_empty() && c.len() <= 2));
                let call_of = |i: usize| calls.iter().position(|c| c.contains(&i));
                for i in 0..contacts.len() {
                    for j in i + 1..contacts.len() {
                        if contacts[i] == contacts[j] {
                            assert!(call_of(i) < call_of(j), "{contacts:?}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn a_call_body_lists_the_inputs() {
        let (a, b) = (input("s1", "a@x.com"), input("s2", "b@x.com"));
        let body: Value = serde_json::from_str(&call_body(&[&a, &b])).expect("json");
        assert_eq!(body["inputs"][0]["objectWriteTraceId"], "s1");
        assert_eq!(body["inputs"][1]["id"], "b@x.com");
    }

    #[test]
    fn a_200_applies_every_input_with_its_own_result() {
        let (a, b) = (input("s1", "a@x.com"), input("s2", "b@x.com"));
        let body = r#"{"status":"COMPLETE","results":[
            {"id":"20","objectWriteTraceId":"s2","properties":{"email":"b@x.com"}},
            {"id":"10","properties":{"email":"A@x.com"}}]}"#;
        let answers = read_answer(Some(200), Some(body), &[&a, &b]);
        let ids: Vec<Option<String>> = answers
            .iter()
            .map(|a| match a {
                InputAnswer::Applied { body } => body
                    .as_deref()
                    .and_then(crate::downstream::mapping::upserted_contact_id),
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(ids, vec![Some("10".into()), Some("20".into())]);
        // Unreadable: still applied (HubSpot said so), nothing to write.
        let answers = read_answer(Some(200), Some("{"), &[&a]);
        assert_eq!(answers, vec![InputAnswer::Applied { body: None }]);
        // One input, one result without trace or email: it is that input's.
        let one = read_answer(Some(200), Some(r#"{"results":[{"id":"7"}]}"#), &[&a]);
        assert_eq!(
            one,
            vec![InputAnswer::Applied {
                body: Some(r#"{"results":[{"id":"7"}]}"#.into())
            }]
        );
    }

    #[test]
    fn a_207_fails_only_the_inputs_its_errors_name() {
        let (a, b, c) = (
            input("s1", "a@x.com"),
            input("s2", "bad"),
            input("s3", "c@x.com"),
        );
        let body = r#"{"status":"COMPLETE","results":[
            {"id":"10","objectWriteTraceId":"s1"}],
            "numErrors":2,"errors":[
            {"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid","context":{"objectWriteTraceId":["s2"]}},
            {"status":"error","category":"INTERNAL_ERROR","message":"try again","context":{"ids":["c@x.com"]}}]}"#;
        let answers = read_answer(Some(207), Some(body), &[&a, &b, &c]);
        assert!(matches!(answers[0], InputAnswer::Applied { body: Some(_) }));
        assert!(matches!(
            &answers[1],
            InputAnswer::Failed { status: Some(400), error } if error.starts_with("hubspot_input_refused: VALIDATION_ERROR")
        ));
        assert!(matches!(
            answers[2],
            InputAnswer::Failed { status: None, .. }
        ));
        // An input neither applied nor named: a retryable failure.
        let unread = read_answer(Some(207), Some("garbage"), &[&a]);
        assert_eq!(
            unread,
            vec![InputAnswer::Failed {
                status: None,
                error: UNATTRIBUTED.into()
            }]
        );
    }

    #[test]
    fn a_400_naming_inputs_fails_them_and_puts_the_others_back() {
        let (a, b) = (input("s1", "a@x.com"), input("s2", "ab@x.com"));
        let body = r#"{"status":"error","category":"VALIDATION_ERROR","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"a@x.com is not a valid email\"}]"}"#;
        let answers = read_answer(Some(400), Some(body), &[&a, &b]);
        assert!(matches!(
            answers[0],
            InputAnswer::Failed {
                status: Some(400),
                ..
            }
        ));
        assert_eq!(
            answers[1],
            InputAnswer::NotAttempted {
                reason: REFUSED_FOR_ANOTHER
            }
        );
        let dup = r#"{"status":"error","category":"VALIDATION_ERROR","message":"Duplicate IDs found in batch input: [a@x.com]"}"#;
        let answers = read_answer(Some(400), Some(dup), &[&a, &b]);
        assert_eq!(
            answers[0],
            InputAnswer::Failed {
                status: None,
                error: DUPLICATE_INPUT.into()
            }
        );
        // One input alone: the call's own answer.
        assert_eq!(
            read_answer(Some(400), Some(body), &[&a]),
            vec![InputAnswer::AsCall]
        );
    }

    #[test]
    fn a_400_naming_no_input_sends_each_input_again_alone() {
        // A portal without a custom property one input writes: HubSpot refuses the whole call
        // and names the property, not the input. Each input is sent again on its own (and gets
        // its own verdict) instead of every step taking a permanent 400.
        let (a, b) = (input("s1", "a@x.com"), input("s2", "b@x.com"));
        let missing = r#"{"status":"error","message":"Property values were not valid: [{\"isValid\":false,\"message\":\"Property \\\"sendgrid_email_status\\\" does not exist\",\"error\":\"PROPERTY_DOESNT_EXIST\",\"name\":\"sendgrid_email_status\",\"localizedErrorMessage\":\"Property \\\"sendgrid_email_status\\\" does not exist\"}]","correlationId":"3f1c","category":"VALIDATION_ERROR"}"#;
        assert!(serde_json::from_str::<Value>(missing).is_ok());
        for body in [
            Some(missing),
            Some(r#"{"status":"error","message":"bad"}"#),
            Some("<html>"),
            None,
        ] {
            assert_eq!(
                read_answer(Some(400), body, &[&a, &b]),
                vec![InputAnswer::Alone; 2],
                "{body:?}"
            );
        }
        // Sent alone, the same refusal is that input's own 400.
        assert_eq!(
            read_answer(Some(400), Some(missing), &[&a]),
            vec![InputAnswer::AsCall]
        );
    }

    #[test]
    fn whole_call_failures_are_every_inputs() {
        let (a, b) = (input("s1", "a@x.com"), input("s2", "b@x.com"));
        let rate = r#"{"status":"error","message":"You have reached your ten_secondly_rolling limit.","errorType":"RATE_LIMIT","policyName":"TEN_SECONDLY_ROLLING"}"#;
        for (status, body) in [
            (Some(429), Some(rate)),
            (Some(502), None),
            (None, None),
            (Some(401), Some("{}")),
        ] {
            assert_eq!(
                read_answer(status, body, &[&a, &b]),
                vec![InputAnswer::AsCall; 2]
            );
        }
    }

    #[test]
    fn no_answer_shape_panics() {
        let (a, b) = (input("s1", "a@x.com"), input("s2", "b@x.com"));
        let shapes = [
            "null",
            "[]",
            "1",
            r#""s""#,
            r#"{"results":null}"#,
            r#"{"results":[1,null,"x"]}"#,
            r#"{"errors":[null,1,{"context":[[[[[[[["s1"]]]]]]]]}]}"#,
            r#"{"errors":{"a":1}}"#,
            r#"{"message":5,"context":{"ids":[1,2]}}"#,
        ];
        for status in [Some(200), Some(207), Some(400), Some(429), None] {
            for body in shapes {
                assert_eq!(read_answer(status, Some(body), &[&a, &b]).len(), 2);
            }
        }
    }
}

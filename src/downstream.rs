//! Sends a request built by the core (`HttpRequestSpec`) with `fetch`, bounded by a timeout that
//! covers reading the body too (of which at most 64 KiB is read), and
//! reports what happened in a form the retry policy understands. Never panics, never returns an
//! error: a failure to even build the request is a (permanent) outcome like any other. A failed
//! answer the core can explain (`explain_failure`) gets the core's error code instead of the
//! generic `http_<status>`. Redirects are never followed (`redirect: "manual"`): a 3xx answer
//! is a failed attempt, `redirect_not_followed` (the core's `steps::retry::redirect_error`).

use std::time::Duration;

use edgehooks_handlers::downstream::{explain_failure, HttpRequestSpec};
use edgehooks_handlers::step_kind::StepKind;
use edgehooks_handlers::steps::retry::redirect_error;
use futures_util::future::{select, Either};
use worker::js_sys::{self, Uint8Array};
use worker::wasm_bindgen::{JsCast, JsValue};
use worker::wasm_bindgen_futures::JsFuture;
use worker::worker_sys::web_sys::{self, ReadableStreamDefaultReader, ReadableStreamReadResult};
use worker::{AbortController, AbortSignal, Delay};

use crate::js_binding::whole_body;

/// What one downstream call produced.
#[derive(Debug, Clone)]
pub struct CallOutcome {
    /// HTTP status; `None` for network errors and timeouts.
    pub status: Option<u16>,
    pub retry_after: Option<String>,
    /// The `Link` header (Shopify's cursor pagination), when there was one.
    pub link: Option<String>,
    /// A short code plus (for HTTP errors) the start of the response body.
    pub error: Option<String>,
    /// The body of a 2xx response (some steps read ids from it), up to `BODY_READ_LIMIT`.
    pub body: Option<String>,
    /// The request could not even be made (bad URL or header): retrying cannot help.
    pub unsendable: bool,
    /// The start of a non-2xx response body (up to `FAILURE_BODY_CHARS`), for [`Self::explained`].
    failure_body: Option<String>,
}

impl CallOutcome {
    fn failed(error: String, unsendable: bool) -> Self {
        CallOutcome {
            status: None,
            retry_after: None,
            link: None,
            error: Some(error),
            body: None,
            unsendable,
            failure_body: None,
        }
    }

    /// One input's share of a batch call's answer, as the core read it: the status it is
    /// classified by, its own 2xx body, or its error.
    pub fn of_input(status: Option<u16>, body: Option<String>, error: Option<String>) -> Self {
        CallOutcome {
            status,
            retry_after: None,
            link: None,
            error,
            body,
            unsendable: false,
            failure_body: None,
        }
    }

    /// The start of the answer, whether it succeeded (`body`) or not.
    pub fn readable_body(&self) -> Option<&str> {
        self.body.as_deref().or(self.failure_body.as_deref())
    }

    /// Replace a failed answer's generic `http_<status>: <excerpt>` with what the core says it
    /// means for step `kind` (its own code first, the original kept after it), when it knows.
    pub fn explained(self, kind: StepKind) -> Self {
        self.explained_with(|status, body| explain_failure(kind, status, body))
    }

    /// Like [`Self::explained`], with the core's `explain` for this kind of call.
    pub fn explained_with(mut self, explain: impl Fn(u16, &str) -> Option<String>) -> Self {
        if let (Some(status), Some(body)) = (self.status, self.failure_body.as_deref()) {
            if let Some(explanation) = explain(status, body) {
                let original = self.error.take().unwrap_or_default();
                self.error = Some(format!("{explanation} ({original})"));
            }
        }
        self
    }
}

/// Longest slice of an error response body kept in `last_error`.
const ERROR_BODY_CHARS: usize = 200;
/// Most of a response body ever read (64 KiB); a successful body longer than this is not kept
/// for the step to read.
const BODY_READ_LIMIT: usize = 64 * 1024;
/// Longest slice of an error response body the core may read to explain it.
const FAILURE_BODY_CHARS: usize = 4096;

/// `fetch` refuses a body on GET and HEAD (a customer lookup is a GET).
fn has_body(method: &str) -> bool {
    !matches!(method, "GET" | "HEAD")
}

/// The runtime's own Request (workers-rs' wrapper would read `request.cf` back from it, and its
/// Response wrapper `cf` and `websocket`, on every call): method, headers, body and the signal
/// that cancels it.
fn to_request(spec: &HttpRequestSpec, signal: &AbortSignal) -> Result<web_sys::Request, JsValue> {
    let headers = web_sys::Headers::new()?;
    for (name, value) in &spec.headers {
        headers.set(name, value)?;
    }
    let init = web_sys::RequestInit::new();
    init.set_method(spec.method);
    init.set_headers(&headers);
    if has_body(spec.method) {
        init.set_body(&JsValue::from_str(&spec.body));
    }
    init.set_signal(Some(signal));
    // A 3xx comes back as the answer itself instead of being followed: the signed request and
    // its credentials go to the configured URL and nowhere else.
    js_sys::Reflect::set(&init, &"redirect".into(), &"manual".into())?;
    web_sys::Request::new_with_str_and_init(&spec.url, &init)
}

/// What came back before the deadline: status, `Retry-After`, and the start of the body (at
/// most `BODY_READ_LIMIT` bytes; `truncated` when there was more).
struct Answer {
    status: u16,
    retry_after: Option<String>,
    link: Option<String>,
    body: Vec<u8>,
    truncated: bool,
}

/// Read at most `limit` bytes of the body; the rest is never read (the caller aborts the
/// request). A body that declares its length within the limit, unencoded, is read in one
/// `arrayBuffer()` (HTTP framing ends it there); any other body is read chunk by chunk and
/// counted, and one that breaks off keeps what arrived.
async fn read_bounded(
    response: &web_sys::Response,
    headers: &web_sys::Headers,
    limit: usize,
) -> (Vec<u8>, bool) {
    if length_within(headers, limit) {
        return (
            whole_body(response.array_buffer())
                .await
                .unwrap_or_default(),
            false,
        );
    }
    match response.body() {
        Some(stream) => read_chunks(&stream.get_reader().unchecked_into(), limit).await,
        None => (Vec::new(), false),
    }
}

/// The body through the runtime's own reader: each `read()` is one crossing, and a body read to
/// its end is left as it is (releasing the lock of a finished stream, as a stream wrapper does
/// when dropped, cost as much as the reads in the profile).
async fn read_chunks(reader: &ReadableStreamDefaultReader, limit: usize) -> (Vec<u8>, bool) {
    let mut body = Vec::new();
    loop {
        let Ok(read) = JsFuture::from(reader.read()).await else {
            return (body, false);
        };
        let read: ReadableStreamReadResult = read.unchecked_into();
        if read.get_done() != Some(false) {
            return (body, false);
        }
        let Ok(chunk) = read.get_value().dyn_into::<Uint8Array>() else {
            return (body, false);
        };
        let room = limit.saturating_sub(body.len());
        if chunk.length() as usize > room {
            let start = chunk.subarray(0, u32::try_from(room).unwrap_or(u32::MAX));
            body.extend_from_slice(&start.to_vec());
            return (body, true);
        }
        body.extend_from_slice(&chunk.to_vec());
    }
}

/// True when the answer's `Content-Length` is at most `limit` and it has no `Content-Encoding`
/// (`fetch` decodes a compressed body, whose decoded size its length does not bound).
fn length_within(headers: &web_sys::Headers, limit: usize) -> bool {
    let header = |name| headers.get(name).ok().flatten();
    let declared = header("Content-Length").and_then(|v| v.trim().parse::<usize>().ok());
    let encoded =
        header("Content-Encoding").is_some_and(|v| !v.trim().eq_ignore_ascii_case("identity"));
    declared.is_some_and(|len| len <= limit) && !encoded
}

/// Send the request and read its answer, headers and (bounded) body alike.
async fn exchange(request: web_sys::Request, limit: usize) -> Result<Answer, JsValue> {
    let global: web_sys::WorkerGlobalScope = js_sys::global().unchecked_into();
    let response: web_sys::Response = JsFuture::from(global.fetch_with_request(&request))
        .await?
        .dyn_into()?;
    let headers = response.headers();
    let header = |name| headers.get(name).ok().flatten();
    let (retry_after, link) = (header("Retry-After"), header("Link"));
    let (body, truncated) = read_bounded(&response, &headers, limit).await;
    Ok(Answer {
        status: response.status(),
        retry_after,
        link,
        body,
        truncated,
    })
}

/// Make the call; `timeout_ms` bounds all of it, from sending to the last byte read, so a
/// destination that sends its headers and then never finishes the body is a `timeout` too.
pub async fn call(spec: &HttpRequestSpec, timeout_ms: u64) -> CallOutcome {
    call_reading(spec, timeout_ms, BODY_READ_LIMIT).await
}

/// Like [`call`], keeping a successful body of up to `body_limit` bytes (a page of Stripe
/// events is far larger than a step's answer).
pub async fn call_reading(
    spec: &HttpRequestSpec,
    timeout_ms: u64,
    body_limit: usize,
) -> CallOutcome {
    let controller = AbortController::default();
    let request = match to_request(spec, &controller.signal()) {
        Ok(request) => request,
        Err(_) => return CallOutcome::failed("invalid_request".into(), true),
    };
    let exchanging = Box::pin(exchange(request, body_limit));
    let deadline = Delay::from(Duration::from_millis(timeout_ms));
    let answer = match select(exchanging, deadline).await {
        Either::Left((Ok(answer), _)) => answer,
        Either::Left((Err(e), _)) => {
            // The runtime's message may quote the URL, and a Slack webhook URL is a secret.
            let message = worker::Error::from(e)
                .to_string()
                .replace(spec.url.as_str(), "[destination]");
            let excerpt: String = message.chars().take(ERROR_BODY_CHARS).collect();
            return CallOutcome::failed(format!("network_error: {excerpt}"), false);
        }
        Either::Right(_) => {
            controller.abort();
            return CallOutcome::failed("timeout".into(), false);
        }
    };
    // Whatever of the body was left unread is not wanted. A body read to its end needs no
    // abort (and aborting a finished exchange costs the runtime as much as the read).
    if answer.truncated {
        controller.abort();
    }
    let status = answer.status;
    let text = String::from_utf8_lossy(&answer.body);
    let (error, body, failure_body) = if (200..300).contains(&status) {
        (None, (!answer.truncated).then(|| text.into_owned()), None)
    } else if let Some(refused) = redirect_error(status) {
        (Some(refused), None, None)
    } else {
        let excerpt: String = text.chars().take(ERROR_BODY_CHARS).collect();
        let failure: String = text.chars().take(FAILURE_BODY_CHARS).collect();
        (
            Some(format!("http_{status}: {excerpt}")),
            None,
            Some(failure),
        )
    };
    CallOutcome {
        status: Some(status),
        retry_after: answer.retry_after,
        link: answer.link,
        error,
        body,
        unsendable: false,
        failure_body,
    }
}

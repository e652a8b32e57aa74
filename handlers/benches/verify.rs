//! Native cost of the ingest hot path: `ingest::verify_and_parse` per provider on realistic,
//! validly signed deliveries of about 2 KB, 16 KB and 256 KB, next to the floor every HMAC
//! provider cannot go below: one raw HMAC-SHA256 over the same bytes. Run through
//! `scripts/bench native` (which also renders the table for BENCHMARKS.md) or directly with
//! `cargo bench -p edgehooks-handlers --bench verify`.
//!
//! Bodies are built here, not read from fixtures, so each size is exact and the shapes match what
//! the providers send: one Stripe event with metadata and line items, a SendGrid array of events,
//! a HubSpot array of at most 100 events (HubSpot's own limit; the 256 KB case pads each event's
//! property value), one Shopify order with line items.
//!
//! Memory: a counting global allocator measures one call of each case before it is timed (heap
//! bytes allocated, peak live heap above the caller's, number of allocations) and writes them to
//! `target/bench-alloc.json` for the report.

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use edgehooks_handlers::inbound::providers::hubspot::{self, sign_v3, signed_uri};
use edgehooks_handlers::inbound::providers::sendgrid::{self, PublicKey};
use edgehooks_handlers::inbound::providers::shopify;
use edgehooks_handlers::inbound::providers::stripe;
use edgehooks_handlers::inbound::providers::{verify_and_parse, ProviderKeys};
use edgehooks_handlers::inbound::webhook::{Clock, InboundRequest};
use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashSigner;
use p256::ecdsa::{Signature, SigningKey};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const NOW: i64 = 1_763_900_000;
const CLOCK: Clock = Clock {
    now_unix: NOW,
    tolerance_secs: 300,
};
const SIZES: [(&str, usize); 3] = [
    ("2KB", 2 * 1024),
    ("16KB", 16 * 1024),
    ("256KB", 256 * 1024),
];
const STRIPE_SECRET: &str = "whsec_bench_0123456789abcdef0123456789abcdef";
const HUBSPOT_SECRET: &str = "hubspot-bench-client-secret-0123456789";
const SHOPIFY_SECRET: &str = "shpss_bench_0123456789abcdef0123456789";
const URL: &str = "https://hooks.example.com/webhooks/hubspot";

/// The system allocator, counting: bytes and calls since the last `reset`, live bytes and their
/// peak. Criterion itself allocates, so only the measured call sits between `reset` and `read`.
struct Counting;

static ALLOCATED: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let ptr = System.alloc(layout);
        if !ptr.is_null() {
            ALLOCATED.fetch_add(layout.size(), Relaxed);
            ALLOCATIONS.fetch_add(1, Relaxed);
            let live = LIVE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(live, Relaxed);
        }
        ptr
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout);
        LIVE.fetch_sub(layout.size(), Relaxed);
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap use of one call of `f`: (bytes allocated, peak live bytes above the start, allocations).
fn heap_use<T>(f: impl FnOnce() -> T) -> (usize, usize, usize) {
    let start_live = LIVE.load(Relaxed);
    ALLOCATED.store(0, Relaxed);
    ALLOCATIONS.store(0, Relaxed);
    PEAK.store(start_live, Relaxed);
    let kept = black_box(f());
    let measured = (
        ALLOCATED.load(Relaxed),
        PEAK.load(Relaxed) - start_live,
        ALLOCATIONS.load(Relaxed),
    );
    drop(kept);
    measured
}

/// Builds a signed delivery of about the given size.
type MakeDelivery = fn(usize) -> Delivery;

/// One prepared, validly signed delivery.
struct Delivery {
    keys: ProviderKeys,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    url: &'static str,
}

impl Delivery {
    fn request(&self) -> InboundRequest<'_> {
        InboundRequest {
            method: "POST",
            url: self.url,
            headers: &self.headers,
            body: &self.body,
        }
    }
}

fn pad(n: usize) -> String {
    "x".repeat(n)
}

/// Grow `make(i)` for i = 0.. until the serialised value reaches `target` bytes.
fn grow(
    target: usize,
    make: impl Fn(usize) -> Value,
    wrap: impl Fn(Vec<Value>) -> Value,
) -> Vec<u8> {
    let mut items = Vec::new();
    loop {
        let body = serde_json::to_vec(&wrap(items.clone())).expect("json");
        if body.len() >= target {
            return body;
        }
        items.push(make(items.len()));
    }
}

fn stripe_delivery(target: usize) -> Delivery {
    let body = grow(
        target,
        |i| {
            json!({ "id": format!("li_{i:08}"), "object": "item", "amount_total": 4200,
                    "currency": "usd", "description": "Edge T-shirt, size M", "quantity": 1,
                    "price": { "id": format!("price_{i:08}"), "unit_amount": 4200, "product": "prod_bench" } })
        },
        |items| {
            json!({
                "id": "evt_1QbenchAbCdEfGhIjKlMnOp", "object": "event", "api_version": "2024-06-20",
                "created": NOW, "livemode": false, "type": "checkout.session.completed",
                "pending_webhooks": 1, "request": { "id": null, "idempotency_key": null },
                "data": { "object": {
                    "id": "cs_test_a1benchbenchbench", "object": "checkout.session",
                    "amount_subtotal": 4200, "amount_total": 4200, "currency": "usd",
                    "customer": "cus_bench", "mode": "payment", "payment_status": "paid", "status": "complete",
                    "customer_details": { "email": "ada@example.com", "name": "Ada Lovelace",
                        "address": { "city": "London", "country": "GB", "line1": "12 Example St", "postal_code": "N1" } },
                    "metadata": { "order_ref": "ord_0001", "channel": "web" },
                    "line_items": { "object": "list", "data": items }
                } }
            })
        },
    );
    let t = NOW.to_string();
    let signature = hex::encode(stripe::sign(STRIPE_SECRET, &t, &body));
    Delivery {
        keys: ProviderKeys::Stripe(vec![STRIPE_SECRET.into()]),
        headers: vec![("Stripe-Signature".into(), format!("t={t},v1={signature}"))],
        body,
        url: "https://hooks.example.com/webhooks/stripe",
    }
}

fn sendgrid_delivery(target: usize) -> Delivery {
    let body = grow(
        target,
        |i| {
            json!({ "email": format!("reader{i}@example.com"), "timestamp": NOW, "smtp-id": format!("<{i}@example.com>"),
                    "event": if i % 3 == 0 { "open" } else { "delivered" }, "category": ["receipts"],
                    "sg_event_id": format!("sg_bench_event_{i:08}"), "sg_message_id": format!("msg_{i:08}.filter0001"),
                    "response": "250 OK", "useragent": "Mozilla/5.0 (bench)", "ip": "192.0.2.1" })
        },
        Value::Array,
    );
    let key = SigningKey::from_slice(&[7u8; 32]).expect("a valid P-256 scalar");
    let ts = NOW.to_string();
    let digest = Sha256::new()
        .chain_update(ts.as_bytes())
        .chain_update(&body)
        .finalize();
    let signature: Signature = key.sign_prehash(&digest).expect("sign");
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD;
    Delivery {
        keys: ProviderKeys::SendGrid(vec![PublicKey::from(*key.verifying_key())]),
        headers: vec![
            (
                sendgrid::SIGNATURE_HEADER.into(),
                b64.encode(signature.to_der().as_bytes()),
            ),
            (sendgrid::TIMESTAMP_HEADER.into(), ts),
        ],
        body,
        url: "https://hooks.example.com/webhooks/sendgrid",
    }
}

fn hubspot_delivery(target: usize) -> Delivery {
    // HubSpot sends at most 100 events per request: pad each event so 100 reach the target.
    let padding = (target / hubspot::MAX_BATCH).saturating_sub(200);
    let body = grow(
        target,
        |i| {
            json!({ "eventId": 1_000_000 + i, "subscriptionId": 4242, "portalId": 62515, "appId": 1160452,
                    "occurredAt": NOW * 1000, "subscriptionType": "contact.propertyChange", "attemptNumber": 0,
                    "objectId": 1246965 + i, "propertyName": "email",
                    "propertyValue": format!("person{i}{}@example.com", pad(padding)),
                    "changeSource": "CRM_UI", "sourceId": "userId:215482" })
        },
        Value::Array,
    );
    assert!(
        serde_json::from_slice::<Vec<Value>>(&body)
            .expect("json")
            .len()
            <= hubspot::MAX_BATCH,
        "bench body must stay within HubSpot's batch limit"
    );
    let ts = (NOW * 1000).to_string();
    let signature = sign_v3(HUBSPOT_SECRET, "POST", &signed_uri(URL, None), &body, &ts);
    Delivery {
        keys: ProviderKeys::HubSpot(hubspot::Settings {
            secrets: vec![HUBSPOT_SECRET.into()],
            ..Default::default()
        }),
        headers: vec![
            (hubspot::SIGNATURE_V3_HEADER.into(), signature),
            (hubspot::TIMESTAMP_HEADER.into(), ts),
        ],
        body,
        url: URL,
    }
}

fn shopify_delivery(target: usize) -> Delivery {
    let body = grow(
        target,
        |i| {
            json!({ "id": 866_550_311 + i, "variant_id": 808_950_810, "title": "Edge T-shirt", "quantity": 1,
                    "sku": format!("SKU-{i:06}"), "vendor": "edgehooks", "price": "59.00", "taxable": true,
                    "properties": [], "fulfillment_status": null, "grams": 200 })
        },
        |items| {
            json!({ "id": 450_789_469, "admin_graphql_api_id": "gid://shopify/Order/450789469",
                    "email": "buyer@example.com", "created_at": "2026-11-23T10:00:00-05:00",
                    "updated_at": "2026-11-23T10:00:01-05:00", "currency": "USD", "total_price": "59.00",
                    "customer": { "id": 207_119_551, "email": "buyer@example.com", "first_name": "Lin", "last_name": "Ye" },
                    "line_items": items })
        },
    );
    Delivery {
        keys: ProviderKeys::Shopify(vec![SHOPIFY_SECRET.into()]),
        headers: vec![
            (
                shopify::HMAC_HEADER.into(),
                shopify::sign_header(SHOPIFY_SECRET, &body),
            ),
            (
                shopify::WEBHOOK_ID_HEADER.into(),
                "b54557e4-bdd9-4b37-8a5f-bf7d70bcd043".into(),
            ),
            (shopify::TOPIC_HEADER.into(), "orders/create".into()),
            (
                shopify::SHOP_DOMAIN_HEADER.into(),
                "edge-test.myshopify.com".into(),
            ),
        ],
        body,
        url: "https://hooks.example.com/webhooks/shopify",
    }
}

/// With `EDGEHOOKS_BENCH_DUMP=<dir>`, keep each body so bench/js-verify.mjs times the JS SDKs on
/// exactly the same bytes.
fn dump(provider: &str, size: &str, body: &[u8]) {
    if let Some(dir) = std::env::var_os("EDGEHOOKS_BENCH_DUMP") {
        let dir = std::path::PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("create the dump folder");
        std::fs::write(dir.join(format!("{provider}-{size}.json")), body)
            .expect("write a bench body");
    }
}

fn raw_hmac(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn bench(c: &mut Criterion) {
    let providers: [(&str, MakeDelivery); 4] = [
        ("stripe", stripe_delivery),
        ("sendgrid", sendgrid_delivery),
        ("hubspot", hubspot_delivery),
        ("shopify", shopify_delivery),
    ];
    let mut heap = Vec::new();
    for (size_name, size) in SIZES {
        let mut group = c.benchmark_group(format!("ingest_{size_name}"));
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        group.sample_size(30);
        for (name, make) in providers {
            let delivery = make(size);
            dump(name, size_name, &delivery.body);
            let accepted = verify_and_parse(&delivery.keys, &delivery.request(), CLOCK)
                .unwrap_or_else(|e| panic!("{name} {size_name} bench delivery must verify: {e:?}"));
            assert!(!accepted.events.is_empty());
            let (allocated, peak, allocations) =
                heap_use(|| verify_and_parse(&delivery.keys, &delivery.request(), CLOCK));
            heap.push(json!({
                "provider": name, "size": size_name, "body_bytes": delivery.body.len(),
                "events": accepted.events.len(), "allocated_bytes": allocated,
                "peak_bytes": peak, "allocations": allocations,
            }));
            group.throughput(Throughput::Bytes(delivery.body.len() as u64));
            group.bench_with_input(BenchmarkId::new("verify_parse", name), &delivery, |b, d| {
                b.iter(|| verify_and_parse(black_box(&d.keys), black_box(&d.request()), CLOCK))
            });
            // The verification half alone, so the table can split verify from parse.
            group.bench_with_input(BenchmarkId::new("verify_only", name), &delivery, |b, d| {
                let req = d.request();
                b.iter(|| match &d.keys {
                    ProviderKeys::Stripe(s) => stripe::verify(black_box(&req), s, CLOCK),
                    ProviderKeys::SendGrid(k) => sendgrid::verify(black_box(&req), k, CLOCK),
                    ProviderKeys::HubSpot(s) => hubspot::verify(black_box(&req), s, CLOCK),
                    ProviderKeys::Shopify(s) => shopify::verify(black_box(&req), s, CLOCK),
                })
            });
            if name == "stripe" {
                // The floor: one HMAC-SHA256 over the same bytes, nothing else.
                group.bench_with_input(
                    BenchmarkId::new("raw_hmac_sha256", "floor"),
                    &delivery.body,
                    |b, body| {
                        b.iter(|| raw_hmac(black_box(STRIPE_SECRET.as_bytes()), black_box(body)))
                    },
                );
            }
        }
        group.finish();
    }
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bench-alloc.json");
    let text = serde_json::to_string_pretty(&heap).expect("serialise the heap table");
    std::fs::write(&out, text).expect("write target/bench-alloc.json");
}

criterion_group!(benches, bench);
criterion_main!(benches);

// The simulated providers: they post each delivery as many times as it plans (repeats), and
// retry as a provider does when the answer is a 5xx or the connection fails (a fresh send:
// re-signed, HubSpot's with `attemptNumber` bumped), until a 2xx or a 4xx. At most
// `concurrency` requests are in flight. Every exchange is written to the ledger with the
// platform faults in force when it started and ended, which is what the invariants compare
// D1 with: a 2xx answer means the delivery's events must be stored; a 5xx is allowed only
// while D1 was refusing ingest or the runtime was being killed.
export function createSenders({ runtime, rng, ledger, concurrency = 8, retryDelayMs = 150 }) {
  let inFlight = 0;
  const waiting = [];
  let outstanding = 0;
  const idleWaiters = [];

  const acquire = () =>
    inFlight < concurrency ? (inFlight++, Promise.resolve()) : new Promise((resolve) => waiting.push(resolve));
  const release = () => {
    const next = waiting.shift();
    if (next) next();
    else inFlight--;
  };
  const settleOne = () => {
    outstanding -= 1;
    if (outstanding === 0) for (const resolve of idleWaiters.splice(0)) resolve();
  };

  async function exchange(delivery, n) {
    const { payload, headers } = delivery.build(n);
    const before = ledger.platformState();
    await acquire();
    const startedAt = Date.now();
    let status = 0;
    let json;
    let error = null;
    try {
      const res = await runtime.post(delivery.path, payload, headers);
      status = res.status;
      json = res.json;
    } catch (e) {
      error = String(e?.message ?? e).slice(0, 200);
    } finally {
      release();
    }
    const after = ledger.platformState();
    const record = { delivery: delivery.id, n, status, json, error, startedAt, endedAt: Date.now(), before, after };
    ledger.exchanges.push(record);
    return record;
  }

  /** One planned send of `delivery`, retried like the provider would until a definite answer. */
  async function sendWithRetries(delivery, attemptBase) {
    let n = attemptBase;
    for (let tries = 0; ; tries++) {
      const record = await exchange(delivery, n);
      n += 1;
      const retry = record.error !== null || record.status >= 500;
      if (!retry) return record;
      await new Promise((r) => setTimeout(r, Math.min(2000, retryDelayMs * 2 ** Math.min(tries, 4))));
      if (ledger.stopRetrying) return record;
    }
  }

  return {
    /** Send `delivery` (its first send after `delayMs`, its repeats spread after it). */
    submit(delivery, { delayMs = 0 } = {}) {
      ledger.deliveries.set(delivery.id, delivery);
      const flying = ledger.eventsInFlight;
      for (const e of delivery.events ?? []) flying.set(e.eventId, (flying.get(e.eventId) ?? 0) + 1);
      const landed = () => {
        for (const e of delivery.events ?? []) {
          const left = (flying.get(e.eventId) ?? 1) - 1;
          if (left > 0) flying.set(e.eventId, left);
          else flying.delete(e.eventId);
        }
        settleOne();
      };
      const gaps = Array.from({ length: delivery.sends }, (_, i) => (i === 0 ? delayMs : delayMs + rng.int(20, 1500)));
      outstanding += 1;
      (async () => {
        let n = 0;
        const sends = [];
        for (const gap of gaps) {
          const base = n;
          n += 20; // each send keeps its own attempt numbers (HubSpot's attemptNumber)
          sends.push(new Promise((r) => setTimeout(r, gap)).then(() => sendWithRetries(delivery, base)));
        }
        await Promise.allSettled(sends);
      })().finally(landed);
    },
    /** Resolves once every submitted delivery has had all its sends answered (or given up). */
    idle: () => (outstanding === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    get inFlight() {
      return inFlight;
    },
    /** Deliveries with sends still to make or answer. */
    get outstanding() {
      return outstanding;
    },
  };
}

// The run's own record, kept by the harness beside what the system stores: every delivery the
// simulated providers made and every answer they got, the platform faults in force over time
// (so a 5xx can be attributed), the operators' admin calls, which events were replayed (steps
// may be added to those later), which steps were redriven, connections created, rows back-dated
// for retention, Stripe events only the backfill can recover, runtime restarts. The invariants
// read D1 and the fake's call log against this.
export function createLedger({ seed, adminToken }) {
  const platform = { d1Ingest: false, queue: false, restarting: false, kills: 0, epoch: 0 };
  const ledger = {
    seed,
    adminToken,
    startedAt: Date.now(),
    deliveries: new Map(),
    exchanges: [],
    operator: [],
    bulkReplays: [],
    replayed: new Set(),
    redriven: new Set(),
    connections: [],
    retention: { finished: new Map(), unfinished: new Map() },
    lostStripe: [],
    restarts: [],
    cronTicks: 0,
    lastFlushAt: Date.now(),
    notes: [],
    stopRetrying: false,
    faultLog: [],
    parkedAtAging: [],
    /** A copy of the platform faults now (stored with each exchange). */
    platformState: () => ({ ...platform }),
    /** Change the platform state (bumps the epoch, so exchanges that straddle it are known). */
    setPlatform(change) {
      Object.assign(platform, change);
      platform.epoch += 1;
      ledger.faultLog.push({ at: Date.now(), ...platform });
    },
    /**
     * Switch the platform faults through `apply` (the runtime's switch, which takes a request to
     * reach the worker). The epoch moves when the switch is asked for and again once it is in
     * force: a delivery that started in between saw the old faults in the worker while the
     * ledger already said the new ones, and its answer is attributed to the switch.
     */
    async switchFaults(change, apply) {
      ledger.setPlatform(change);
      await apply(change);
      ledger.setPlatform({});
    },
    /** Events of deliveries answered 2xx so far (for operators picking an event to replay). */
    acceptedEvents() {
      const out = [];
      for (const x of ledger.exchanges) {
        if (x.status !== 200) continue;
        const d = ledger.deliveries.get(x.delivery);
        if (d && d.expect === "accepted") out.push(...d.events);
      }
      return out;
    },
    /** The delivery that carried a stored event id. */
    /** Events (by id) of deliveries whose sends are not all answered yet, with how many. */
    eventsInFlight: new Map(),
    deliveryOfEvent(eventId) {
      for (const d of ledger.deliveries.values()) if (d.events.some((e) => e.eventId === eventId)) return d;
      return null;
    },
  };
  return ledger;
}

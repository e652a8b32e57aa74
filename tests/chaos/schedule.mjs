// The fault schedule: what each round of the run breaks, drawn from the seed. A round turns
// downstream faults up or down (transient rate, permanent 400s for a few call identities, a
// storm that trips one destination's circuit), may make D1 refuse ingest or Queues refuse sends
// for the round, may kill and restart the runtime mid-round, and says how many operator
// actions and cron ticks happen (with rows back-dated for retention, Stripe events only the
// backfill can recover, a captured Shopify body re-posted after retention).
export function roundPlan(rng, { index }) {
  const calm = index === 0 || rng.chance(0.25);
  return {
    rate: calm ? 0.02 : rng.pick([0.05, 0.15, 0.3]),
    permanentRate: rng.chance(0.5) ? 0.02 : 0,
    d1Ingest: !calm && rng.chance(0.15),
    queue: !calm && rng.chance(0.15),
    storm: !calm && rng.chance(0.12) ? rng.pick(["/v3/mail/send", "/crm/v3/objects/contacts", "/services/", "/v1/customers/", "/receiver/"]) : null,
    restart: !calm && rng.chance(0.08),
    operatorActions: rng.int(0, 3),
    cron: rng.chance(0.5),
    retention: rng.chance(0.2),
    lostStripe: rng.chance(0.25) ? rng.int(1, 2) : 0,
    capturedReplay: rng.chance(0.15),
  };
}

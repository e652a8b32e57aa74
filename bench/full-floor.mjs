// Turns a copy of the JS peer (bench/peer-floor.sh copies it to target/peer-floor) into the
// full-pipeline floor: the peer's ingest unchanged (verify with the stripe SDK, KV get, D1
// insert, KV put, one queue send per step), and a consumer that does the downstream work
// edgehooks' default routes do for a checkout event, as plainly as JS allows: per message one
// POST to the local fake (HubSpot contact upsert, SendGrid mail send), then one D1 insert
// recording it, all messages of a batch at once. No claims, no attempt rows, no `enqueued`
// mark, no customer row: a lower bound of what the full-pipeline goal's work costs on this
// runtime. The copy's serve-mf.mjs also starts tests/helpers/fake-downstream.mjs in its node
// process (as edgehooks-serve-mf.mjs does for edgehooks) and binds its URL as DOWNSTREAM.
//   node bench/full-floor.mjs <copy of the peer> <edgehooks checkout>
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

const [copy, root] = process.argv.slice(2);

/** Replace `from` (which must occur exactly once) in `file` by `to`. */
function patch(file, from, to) {
  const text = readFileSync(file, "utf8");
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) throw new Error(`${file}: expected one ${JSON.stringify(from.slice(0, 60))}`);
  writeFileSync(file, text.slice(0, at) + to + text.slice(at + from.length));
}

const index = path.join(copy, "src/index.js");
// The message carries what the downstream calls need (the checkout's email).
patch(index, "await env.STEPS.send({ event_id: event.id, step });",
  "await env.STEPS.send({ event_id: event.id, step, email: event.data?.object?.customer_details?.email ?? 'unknown@example.com' });");
const source = readFileSync(index, "utf8");
const consumerAt = source.indexOf("  async queue(batch, env, ctx) {");
if (consumerAt < 0) throw new Error(`${index}: no queue handler`);
writeFileSync(index, source.slice(0, consumerAt) + `  async queue(batch, env, ctx) {
    const stmt = env.DB.prepare(
      'INSERT INTO steps (provider, event_id, step, processed_at) VALUES (?1, ?2, ?3, ?4) ' +
        'ON CONFLICT(provider, event_id, step) DO NOTHING',
    );
    await Promise.all(batch.messages.map(async (msg) => {
      const { event_id, step, email } = msg.body;
      const crm = step === 'crm.upsert_contact';
      const body = crm
        ? { inputs: [{ idProperty: 'email', id: email, properties: { email } }] }
        : { personalizations: [{ to: [{ email }] }], from: { email: 'orders@example.com' }, subject: 'Thank you',
            content: [{ type: 'text/plain', value: 'Thank you for your order.' }] };
      const res = await fetch(env.DOWNSTREAM + (crm ? '/crm/v3/objects/contacts/batch/upsert' : '/v3/mail/send'), {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: 'Bearer floor', 'idempotency-key': event_id + ':' + step },
        body: JSON.stringify(body),
      });
      await res.arrayBuffer();
      if (!res.ok) return msg.retry();
      await stmt.bind('stripe', event_id, step, Date.now()).run();
      msg.ack();
    }));
  },
};
`);

const serve = path.join(copy, "serve-mf.mjs");
patch(serve, "import { unstable_getMiniflareWorkerOptions } from 'wrangler';",
  `import { unstable_getMiniflareWorkerOptions } from 'wrangler';
import { startFakeDownstream } from ${JSON.stringify(path.join(path.resolve(root), "tests/helpers/fake-downstream.mjs"))};
const fake = await startFakeDownstream();`);
patch(serve, "name: 'peer',", "name: 'peer', bindings: { ...(workerOptions.bindings ?? {}), DOWNSTREAM: fake.url },");

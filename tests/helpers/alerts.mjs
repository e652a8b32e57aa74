// What the alert tests share: a world (the fake downstream and a worker pointed at it) whose
// alerts go to the fake's Slack path `slackPath`, torn down after the describe, and the cron run
// as if it were a given time (the alerts judge "now" by the scheduled time, never a sleep).
import { after, before } from "node:test";
import { startFakeDownstream } from "./fake-downstream.mjs";
import { downstreamVars, startWorker } from "./worker.mjs";
import { worldOf } from "./world.mjs";

/** A world whose alerts go to `${fake}${slackPath}`, with `vars` on top. */
export function alertWorld(slackPath, vars = {}) {
  const w = {};
  before(async () => {
    const fake = await startFakeDownstream();
    const worker = await startWorker({
      vars: { ...downstreamVars(fake.url), ALERT_SLACK_WEBHOOK_URL: `${fake.url}${slackPath}`, ...vars },
    });
    Object.assign(w, worldOf(worker, fake));
  });
  after(async () => w.dispose?.());
  return w;
}

/** Run the cron as if it were `ms` (Unix ms; default now). */
export async function cronAt(w, ms = Date.now()) {
  await (await w.worker.mf.getWorker()).scheduled({ cron: "* * * * *", scheduledTime: new Date(ms) });
}

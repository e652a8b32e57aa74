// A test "world": the fake downstream APIs and the worker pointed at them, with the verbs the
// end-to-end tests share (deliver a signed event, read and wait for its steps, run the cron,
// wait until things are quiet) and one dispose. `useWorld(options)` gives a test file or a
// describe block a ready world in one line (hooks registered for it); `startWorld(options)` is
// the same for a test that manages its own lifetime.
//
//   const w = useWorld({ vars: { RETRY_BASE_SECONDS: "0" } });
//   test("…", async () => {
//     const { key } = await w.deliver("stripe", checkoutCompleted());
//     const steps = await w.settled("stripe", key);
//   });
import { after, afterEach, before, beforeEach } from "node:test";
import { startFakeDownstream } from "./fake-downstream.mjs";
import { downstreamVars, startWorker, waitFor, waitForNoStepInFlight } from "./worker.mjs";
import { deliver, settled, stepReaches, stepsOf } from "./flows.mjs";

/**
 * Start the fake downstream (unless `downstream: false`) and the worker with every destination
 * pointed at it; `vars` and the other options go to startWorker. If the worker fails to start,
 * the fake is closed before the error is rethrown.
 */
export async function startWorld({ vars = {}, downstream = true, ...workerOptions } = {}) {
  const fake = downstream ? await startFakeDownstream() : undefined;
  let worker;
  try {
    worker = await startWorker({ ...workerOptions, vars: { ...(fake ? downstreamVars(fake.url) : {}), ...vars } });
  } catch (error) {
    await fake?.close();
    throw error;
  }
  return worldOf(worker, fake);
}

/** The shared verbs over one worker and its fake downstream. */
export function worldOf(worker, fake) {
  return {
    worker,
    fake,
    /** POST a signed delivery of `event` (see flows.mjs `deliver`); asserts 200. */
    deliver: (provider, event, options) => deliver(worker, provider, event, options),
    stepsOf: (provider, key) => stepsOf(worker, provider, key),
    settled: (provider, key, options) => settled(worker, provider, key, options),
    stepReaches: (provider, key, name, statuses, options) => stepReaches(worker, provider, key, name, statuses, options),
    /** Run the cron trigger (the sweeper and the rejection tally) once, as the platform would. */
    sweep: async () => (await worker.mf.getWorker()).scheduled({ cron: "* * * * *" }),
    /** Wait until no step is pending, enqueued or running. */
    noStepInFlight: () => waitForNoStepInFlight(worker),
    /** Wait until the fake downstream has had no new call for `windowMs` (see `quiet`). */
    quiet: (options) => quiet(fake, options),
    async dispose() {
      await worker.dispose();
      await fake?.close();
    },
  };
}

/**
 * Register hooks that give the enclosing file or describe a world: started `before` (or
 * `beforeEach` with `{ each: true }`) and disposed after. Returns the world object, filled in when
 * the hook has run; `options` may be a function (called at start, e.g. to read a fresh setting).
 * `ready(world)` runs once it is started (e.g. `({ worker, fake } = w)` for a file that names them).
 */
export function useWorld(options = {}, { each = false, ready } = {}) {
  const world = {};
  (each ? beforeEach : before)(async () => {
    for (const name of Object.keys(world)) delete world[name];
    Object.assign(world, await startWorld(typeof options === "function" ? options() : options));
    ready?.(world);
  });
  (each ? afterEach : after)(async () => {
    await world.worker?.dispose();
    await world.fake?.close();
  });
  return world;
}

/**
 * Wait until `fake` has received no new call for `windowMs` (default 300 ms), within `timeoutMs`.
 * Tests that assert a call did NOT happen (a duplicate, a finished or dead step redelivered, a
 * stale event) use this: an absence can only be observed over a window, so the window is part of
 * the assertion; waiting for quiet instead of a blind sleep also means calls still arriving are
 * all counted before the assertion reads them.
 */
export async function quiet(fake, { windowMs = 300, timeoutMs = 15000 } = {}) {
  let seen = fake.calls.length;
  let since = Date.now();
  await waitFor(
    () => {
      if (fake.calls.length !== seen) {
        seen = fake.calls.length;
        since = Date.now();
      }
      return Date.now() - since >= windowMs;
    },
    { timeoutMs, intervalMs: Math.min(50, windowMs), what: `no downstream call for ${windowMs} ms` },
  );
}

// A local stand-in for the downstream SaaS APIs (HubSpot, SendGrid, Stripe, Slack). It records
// every call and answers like the real APIs would by default (2xx with a JSON body); tests can
// script failures per path: status codes, Retry-After, slow answers, dropped connections, and
// answers held back until the test releases them (`hold`: a promise the answer waits for).
import http from "node:http";

export async function startFakeDownstream({ port = 0 } = {}) {
  const calls = [];
  const listeners = [];
  const scripts = new Map(); // path -> array of responses to play in order, then default
  const always = new Map(); // path -> response played forever
  const sockets = new Set();
  let chaos = null; // (call) => response or null: a per-call planner (fault injection)

  const server = http.createServer((req, res) => {
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (chunk) => (body += chunk));
    req.on("end", () => {
      const url = new URL(req.url, "http://fake");
      const call = { method: req.method, path: url.pathname, query: url.search, headers: req.headers, body, at: Date.now() };
      calls.push(call);
      for (const listener of listeners) listener(call);
      const queued = scripts.get(url.pathname);
      const scripted =
        (queued && queued.length ? queued.shift() : null) ?? always.get(url.pathname) ?? chaos?.(call) ?? { status: 200 };
      // A scripted response may be a function of the call, for values computed when it plays.
      const plan = typeof scripted === "function" ? scripted(call) : scripted;
      const answer = () => {
        if (plan.drop) {
          req.socket.destroy();
          return;
        }
        const headers = { "content-type": "application/json", ...(plan.headers ?? {}) };
        res.writeHead(plan.status ?? 200, headers);
        res.end(JSON.stringify(plan.body ?? defaultBody(url.pathname, plan.status ?? 200)));
      };
      const go = () => (plan.delayMs ? setTimeout(answer, plan.delayMs) : answer());
      if (plan.hold) Promise.resolve(plan.hold).then(go);
      else go();
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise((resolve) => server.listen(port, "127.0.0.1", resolve));

  return {
    url: `http://127.0.0.1:${server.address().port}`,
    calls,
    callsTo: (path) => calls.filter((c) => c.path === path),
    onCall: (listener) => listeners.push(listener),
    /** Play these responses (objects, or functions of the call), in order, for the next calls to `path`. */
    script(path, responses) {
      scripts.set(path, [...responses]);
    },
    /** Answer every call to `path` with `response` until reset. */
    always(path, response) {
      always.set(path, response);
    },
    /** Decide every call's response with `planner(call)` (null: the default 2xx) until reset. */
    chaos(planner) {
      chaos = planner;
    },
    reset() {
      chaos = null;
      calls.length = 0;
      scripts.clear();
      always.clear();
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

function defaultBody(path, status) {
  if (status >= 400) return { status: "error", message: `fake failure ${status}` };
  if (path.endsWith("/batch/upsert")) return { status: "COMPLETE", results: [{ id: "1001" }] };
  return { ok: true };
}

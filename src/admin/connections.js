// edgehooks admin page, connections screen (issue 13): http destinations (list, create, edit
// with a rotated secret, pause/resume, delete) and connections (list, create, edit,
// enable/disable, delete, a transform and its preview on a stored event); on an event's detail, which connections match it (preview) and
// "send to a destination as a test". Uses the helpers admin.js exposes as window.edgehooksAdmin;
// data is only ever inserted as text. Secrets are typed into password fields and never shown.
"use strict";

(() => {
  const A = () => window.edgehooksAdmin;
  const enc = encodeURIComponent;
  const editing = { destination: null, connection: null };

  const field = (label, input) => A().el("label", {}, label, " ", input);
  const input = (name, attrs = {}) => A().el("input", { name, ...attrs });
  const button = (text, attrs, onclick) => A().el("button", { type: "button", ...attrs, onclick: A().guard(onclick) }, text);
  const numberOrNull = (v) => (v.trim() === "" ? null : Number(v));
  // The built-in providers, then `in` (every source added at runtime) and each of them.
  const BUILT_IN = ["stripe", "sendgrid", "hubspot", "shopify", "in"];

  function destinationForm() {
    const { el } = A();
    const form = el("form", { id: "destination-form", class: "filters" },
      field("name", input("name", { required: "", placeholder: "orders-svc" })),
      field("url", input("url", { required: "", placeholder: "https://…", size: 40 })),
      field("secret", input("secret", { type: "password", autocomplete: "off", placeholder: "whsec_…" })),
      field("timeout ms", input("timeout_ms", { type: "number", min: 100 })),
      field("max attempts", input("max_attempts", { type: "number", min: 1 })),
      field("rate / s", input("rate_per_sec", { type: "number", min: 1 })),
      el("button", { type: "submit", id: "destination-save", class: "primary" }, "Save destination"));
    form.addEventListener("submit", A().guard(async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const body = { url: f.get("url"), timeout_ms: numberOrNull(f.get("timeout_ms")) ?? undefined,
        max_attempts: numberOrNull(f.get("max_attempts")), rate_per_sec: numberOrNull(f.get("rate_per_sec")) };
      if (editing.destination) {
        if (f.get("secret")) body.add_secret = f.get("secret");
        await A().api(`destinations/${enc(editing.destination)}`, { method: "PATCH", body: JSON.stringify(body) });
        A().say(`Destination ${editing.destination} saved.`);
      } else {
        Object.assign(body, { name: f.get("name"), type: "http", secret: f.get("secret") });
        await A().api("destinations", { method: "POST", body: JSON.stringify(body) });
        A().say(`Destination ${body.name} created.`);
      }
      editing.destination = null;
      form.reset();
      await load();
    }));
    return form;
  }

  function connectionForm() {
    const { el } = A();
    const source = el("select", { name: "source" }, ...BUILT_IN.map((p) => el("option", {}, p)));
    const form = el("form", { id: "connection-form", class: "filters" },
      field("name", input("name", { placeholder: "(source-to-destination)" })),
      field("source", source),
      field("account", input("account", { placeholder: "any" })),
      field("types", input("types", { placeholder: "invoice.*, checkout.session.completed", size: 30 })),
      field("conditions", el("textarea", { name: "conditions", rows: 1, cols: 40, placeholder: '[{"path":"/data/object/livemode","equals":true}]' })),
      field("destination", input("destination", { required: "", placeholder: "orders-svc or slack.notify", list: "destination-names" })),
      el("datalist", { id: "destination-names" }),
      field("transform", el("textarea", { name: "transform", rows: 2, cols: 60, placeholder: '{"ops":[{"op":"select","paths":["/id","/type"]}],"headers":{"x-event":"{{event.type}}"}}' })),
      field("event id", input("preview_event", { id: "transform-event", placeholder: "an event id to preview" })),
      button("Preview", { id: "transform-preview-button" }, () => previewTransform(form)),
      el("button", { type: "submit", id: "connection-save", class: "primary" }, "Save connection"),
      el("pre", { id: "transform-preview", class: "mono" }));
    form.addEventListener("submit", A().guard(async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const types = String(f.get("types")).split(",").map((t) => t.trim()).filter(Boolean);
      let conditions = [];
      if (String(f.get("conditions")).trim()) conditions = JSON.parse(f.get("conditions"));
      const body = { source: f.get("source"), account: f.get("account") || null, types, conditions, destination: f.get("destination"),
        transform: transformOf(form) };
      if (f.get("name")) body.name = f.get("name");
      const path = editing.connection ? `connections/${enc(editing.connection)}` : "connections";
      await A().api(path, { method: editing.connection ? "PATCH" : "POST", body: JSON.stringify(body) });
      A().say(`Connection ${body.name ?? ""} saved.`);
      editing.connection = null;
      form.reset();
      await load();
    }));
    return form;
  }

  /** The form's transform: its JSON, or null when the field is empty. */
  function transformOf(form) {
    const text = String(form.elements.namedItem("transform").value).trim();
    return text ? JSON.parse(text) : null;
  }

  /** What the connection (being edited, or named in the form) would send for an event, with
   * the transform as typed (unsaved); shown as text only. */
  async function previewTransform(form) {
    const name = editing.connection || form.elements.namedItem("name").value;
    if (!name) throw new Error("save the connection (or name one) first: a preview runs on a stored connection");
    const body = { event_id: form.elements.namedItem("preview_event").value, transform: transformOf(form) };
    const p = await A().api(`connections/${enc(name)}/preview`, { method: "POST", body: JSON.stringify(body) });
    const headers = Object.entries(p.headers).map(([k, v]) => `${k}: ${v}`).join("\n");
    let shown = p.body;
    try { shown = JSON.stringify(JSON.parse(p.body), null, 2); } catch { /* shown as sent */ }
    form.querySelector("#transform-preview").textContent =
      `POST → ${p.destination} (signed when sent: ${p.signed_when_sent.join(", ")})\n${headers}\n\n${shown}`;
  }

  function fill(form, values) {
    for (const [k, v] of Object.entries(values)) {
      const input = form.elements.namedItem(k);
      if (input) input.value = v ?? "";
    }
  }

  function destinationRow(d) {
    const { el, badge } = A();
    const act = (path, what) => async () => {
      const r = await A().api(`destinations/${enc(d.name)}${path}`, { method: "POST" });
      const drained = r.resumed === undefined ? "" : `: ${r.resumed} parked step(s) draining, ${r.sent} sent now`;
      A().say(`Destination ${d.name} ${what}${drained}.`);
      await load();
    };
    return el("tr", { "data-destination": d.name },
      el("td", { class: "mono" }, d.name), el("td", { class: "mono" }, d.url),
      // Fingerprints are keyed by SECRETS_KEY: without it there are none to show.
      el("td", {}, `${d.secrets} (${d.secret_fingerprints.join(", ") || "no fingerprints without SECRETS_KEY"})`),
      el("td", {}, `${d.timeout_ms} ms, ${d.max_attempts ?? "default"} tries, ${d.rate_per_sec ?? "∞"}/s`),
      el("td", {}, badge(d.paused ? "paused" : "active")),
      el("td", { class: "actions" },
        d.paused ? button("Resume", { class: "resume" }, act("/resume", "resumed")) : button("Pause", { class: "pause" }, act("/pause", "paused")),
        button("Edit", { class: "edit" }, async () => {
          editing.destination = d.name;
          fill(document.querySelector("#destination-form"), { ...d, secret: "" });
          A().say(`Editing ${d.name}: a secret typed here is added as the newest (rotation).`);
        }),
        button("Delete", { class: "delete" }, async () => {
          await A().api(`destinations/${enc(d.name)}`, { method: "DELETE" });
          A().say(`Destination ${d.name} deleted.`);
          await load();
        })));
  }

  function connectionRow(c) {
    const { el, badge } = A();
    return el("tr", { "data-connection": c.name },
      el("td", { class: "mono" }, c.name), el("td", {}, c.source, c.account ? ` (${c.account})` : ""),
      el("td", { class: "mono" }, (c.types.length ? c.types : ["*"]).join(", ")),
      el("td", { class: "mono" }, c.conditions.length ? JSON.stringify(c.conditions) : ""),
      el("td", { class: "mono" }, c.destination), el("td", {}, badge(c.enabled ? "enabled" : "disabled")),
      el("td", { class: "actions" },
        button(c.enabled ? "Disable" : "Enable", { class: "toggle" }, async () => {
          await A().api(`connections/${enc(c.name)}/${c.enabled ? "disable" : "enable"}`, { method: "POST" });
          await load();
        }),
        button("Edit", { class: "edit" }, async () => {
          editing.connection = c.name;
          fill(document.querySelector("#connection-form"), { ...c, types: c.types.join(", "), conditions: JSON.stringify(c.conditions),
            transform: c.transform ? JSON.stringify(c.transform) : "" });
          A().say(`Editing connection ${c.name}.`);
        }),
        button("Delete", { class: "delete" }, async () => {
          await A().api(`connections/${enc(c.name)}`, { method: "DELETE" });
          await load();
        })));
  }

  const table = (id, heads, rows, empty) => {
    const { el } = A();
    const body = rows.length ? rows : [el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, empty))];
    return el("table", { id }, el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))), el("tbody", {}, ...body));
  };

  /** Fill the connections screen. */
  // Loads overlap (opening the tab, then saving before its answers came): only the newest may
  // draw, or an older, slower answer would put stale rows over the fresh ones.
  let newestLoad = 0;
  async function load() {
    const { el } = A();
    const ticket = ++newestLoad;
    const view = document.querySelector("#view-gateway");
    if (!view.querySelector("#destination-form")) {
      view.replaceChildren(el("h2", {}, "Destinations"), el("div", { id: "destinations-list" }), destinationForm(),
        el("h2", {}, "Connections"), el("div", { id: "connections-list" }), connectionForm());
    }
    const [{ destinations }, { connections }, { sources }] = await Promise.all([A().api("destinations"), A().api("connections"), A().api("sources")]);
    if (ticket !== newestLoad) return;
    const select = view.querySelector('#connection-form [name="source"]');
    const chosen = select.value;
    select.replaceChildren(...BUILT_IN.concat(sources.map((s) => `in:${s.name}`)).map((p) => el("option", {}, p)));
    select.value = chosen || "stripe";
    view.querySelector("#destinations-list").replaceChildren(table("destinations", ["name", "url", "secrets", "limits", "state", ""],
      destinations.map(destinationRow), "No destinations yet."));
    view.querySelector("#connections-list").replaceChildren(table("connections", ["name", "source", "types", "conditions", "destination", "state", ""],
      connections.map(connectionRow), "No connections yet."));
    view.querySelector("#destination-names").replaceChildren(...destinations.map((d) => el("option", { value: d.name })));
  }

  /** On an event's detail: the match preview and a test send. */
  async function eventActions(id, detail) {
    const { el, api } = A();
    const out = el("div", { id: "gateway-result", class: "mono" });
    const select = el("select", { id: "test-destination", "aria-label": "destination" });
    const { destinations } = await api("destinations");
    select.replaceChildren(...destinations.map((d) => el("option", {}, d.name)));
    detail.append(el("h2", {}, "Connections"), el("div", { class: "actions" },
      button("Which connections match?", { id: "match-preview" }, async () => {
        const p = await api(`events/${enc(id)}/connections`);
        out.replaceChildren(el("ul", { id: "match-list" }, ...p.steps.map((s) =>
          el("li", {}, `${s.name} → ${s.destination} (${s.origin === "connection" ? `connection ${s.connection}` : "default route"})`)),
          ...p.routes_off.map((r) => el("li", { class: "muted" }, `${r} (default route turned off)`))));
      }),
      select,
      button("Send to destination as a test", { id: "test-send" }, async () => {
        const r = await api(`destinations/${enc(select.value)}/test`, { method: "POST", body: JSON.stringify({ event_id: id }) });
        out.replaceChildren(el("p", { id: "test-result" }, `${r.ok ? "delivered" : "failed"}: ${r.status ?? "no response"} ${r.error ?? ""} in ${r.duration_ms} ms (webhook-id ${r.webhook_id})`));
      })), out);
  }

  window.edgehooksGateway = { load, eventActions };
})();

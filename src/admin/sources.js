// edgehooks admin page, sources screen (issue 26): the sources added at runtime
// (`/webhooks/in/{name}`): list (scheme, the path to give the sender, where the dedupe key and
// event type come from, the body limit, secret fingerprints, state), create and edit (scheme,
// its config, dedupe and event type from a header or a JSON Pointer, `max_body_bytes`), rotate
// (add a secret, then remove an old one by its fingerprint), disable and enable, delete. Uses
// the helpers admin.js exposes as window.edgehooksAdmin; data is only ever inserted as text.
// Secrets are typed into password fields and never shown.
"use strict";

(() => {
  const A = () => window.edgehooksAdmin;
  const enc = encodeURIComponent;
  const SCHEMES = ["standard-webhooks", "github", "twilio", "slack", "linear", "square", "typeform",
    "calendly", "zoom", "paddle", "workos", "intercom", "gitlab", "hmac", "token", "basic"];
  let rotating = null;
  let editing = null;

  const field = (label, input) => A().el("label", {}, label, " ", input);
  const input = (name, attrs = {}) => A().el("input", { name, ...attrs });
  const button = (text, attrs, onclick) => A().el("button", { type: "button", ...attrs, onclick: A().guard(onclick) }, text);

  // A locator (`dedupe`, `event_type`): the scheme's own, a header, or a JSON Pointer.
  const locatorFields = (name, label) => [
    field(label, A().el("select", { name: `${name}_from` },
      ...["scheme", "header", "pointer"].map((from) => A().el("option", { value: from }, from === "scheme" ? "the scheme's" : from)))),
    input(`${name}_at`, { placeholder: "X-Request-Id or /id", size: 14 })];
  const locatorOf = (f, name) => {
    const from = f.get(`${name}_from`);
    return from === "scheme" ? null : { [from]: String(f.get(`${name}_at`)).trim() };
  };
  const settingFields = () => [
    ...locatorFields("dedupe", "dedupe"), ...locatorFields("event_type", "event type"),
    field("max body bytes", input("max_body_bytes", { type: "number", min: 1, placeholder: "MAX_BODY_BYTES" }))];
  const configOf = (f) => (String(f.get("config")).trim() ? JSON.parse(f.get("config")) : null);
  // The optional settings as the API takes them (null: the scheme's, or MAX_BODY_BYTES).
  const settingsOf = (f) => ({
    dedupe: locatorOf(f, "dedupe"), event_type: locatorOf(f, "event_type"),
    max_body_bytes: String(f.get("max_body_bytes")).trim() ? Number(f.get("max_body_bytes")) : null,
  });
  const schemeSelect = () => A().el("select", { name: "scheme" }, ...SCHEMES.map((s) => A().el("option", {}, s)));
  const describe = (locator) => (locator ? `${Object.keys(locator)[0]} ${Object.values(locator)[0]}` : "scheme's");

  function createForm() {
    const { el } = A();
    const form = el("form", { id: "source-form", class: "filters" },
      field("name", input("name", { required: "", placeholder: "github-main" })),
      field("scheme", schemeSelect()),
      field("config", el("textarea", { name: "config", rows: 1, cols: 36, placeholder: '{"header":"X-Token"} (hmac, token only)' })),
      field("secret", input("secret", { type: "password", autocomplete: "off", required: "" })),
      ...settingFields(),
      el("button", { type: "submit", id: "source-save", class: "primary" }, "Create source"));
    form.addEventListener("submit", A().guard(async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const body = { name: f.get("name"), scheme: f.get("scheme"), secrets: [f.get("secret")], config: configOf(f), ...settingsOf(f) };
      const created = await A().api("sources", { method: "POST", body: JSON.stringify(body) });
      A().say(`Source ${created.name} created: give the sender ${created.path}`);
      form.reset();
      await load();
    }));
    return form;
  }

  function rotateForm() {
    const { el } = A();
    const form = el("form", { id: "source-rotate-form", class: "filters", hidden: "" },
      el("span", { id: "rotating-name", class: "mono" }),
      field("new secret", input("secret", { type: "password", autocomplete: "off", required: "" })),
      el("button", { type: "submit", id: "source-rotate-save", class: "primary" }, "Add secret"));
    form.addEventListener("submit", A().guard(async (ev) => {
      ev.preventDefault();
      const secret = new FormData(form).get("secret");
      await A().api(`sources/${enc(rotating)}/secrets`, { method: "POST", body: JSON.stringify({ add: [secret] }) });
      A().say(`Source ${rotating}: secret added; both verify until the old one is removed.`);
      rotating = null;
      form.reset();
      form.hidden = true;
      await load();
    }));
    return form;
  }

  // Edit a source's settings (its name is fixed; secrets change by rotation).
  function editForm() {
    const { el } = A();
    const form = el("form", { id: "source-edit-form", class: "filters", hidden: "" },
      el("span", { id: "editing-name", class: "mono" }),
      field("scheme", schemeSelect()),
      field("config", el("textarea", { name: "config", rows: 1, cols: 36 })),
      ...settingFields(),
      el("button", { type: "submit", id: "source-edit-save", class: "primary" }, "Save source"),
      button("Cancel", { id: "source-edit-cancel" }, async () => { editing = null; form.hidden = true; }));
    form.addEventListener("submit", A().guard(async (ev) => {
      ev.preventDefault();
      const f = new FormData(form);
      const body = { scheme: f.get("scheme"), config: configOf(f), ...settingsOf(f) };
      await A().api(`sources/${enc(editing)}`, { method: "PATCH", body: JSON.stringify(body) });
      A().say(`Source ${editing} saved.`);
      editing = null;
      form.hidden = true;
      await load();
    }));
    return form;
  }

  function startEdit(s) {
    editing = s.name;
    const form = document.querySelector("#source-edit-form");
    form.querySelector("#editing-name").textContent = s.name;
    form.elements.scheme.value = s.scheme;
    form.elements.config.value = Object.keys(s.config ?? {}).length ? JSON.stringify(s.config) : "";
    for (const name of ["dedupe", "event_type"]) {
      const locator = s[name];
      form.elements[`${name}_from`].value = locator ? Object.keys(locator)[0] : "scheme";
      form.elements[`${name}_at`].value = locator ? Object.values(locator)[0] : "";
    }
    form.elements.max_body_bytes.value = s.max_body_bytes ?? "";
    form.hidden = false;
  }

  function sourceRow(s) {
    const { el, badge } = A();
    const removable = s.secret_fingerprints.length > 1;
    const prints = s.secret_fingerprints.map((print) => el("span", { class: "mono" }, print, " ",
      removable ? button("remove", { class: "remove-secret", "data-fingerprint": print }, async () => {
        await A().api(`sources/${enc(s.name)}/secrets`, { method: "POST", body: JSON.stringify({ remove: [print] }) });
        A().say(`Source ${s.name}: secret ${print} removed.`);
        await load();
      }) : ""));
    return el("tr", { "data-source": s.name },
      el("td", { class: "mono" }, s.name), el("td", {}, s.scheme), el("td", { class: "mono" }, s.path),
      el("td", { class: "settings" }, `dedupe: ${describe(s.dedupe)}; type: ${describe(s.event_type)}`,
        s.max_body_bytes ? `; ≤ ${s.max_body_bytes} bytes` : ""),
      // A row written before keyed fingerprints shows none until the sweeper re-keys it.
      el("td", {}, prints.length ? `${s.secrets}: ` : `${s.secrets}`, ...prints),
      el("td", {}, badge(s.enabled ? "enabled" : "disabled")),
      el("td", { class: "actions" },
        button(s.enabled ? "Disable" : "Enable", { class: "toggle" }, async () => {
          await A().api(`sources/${enc(s.name)}/${s.enabled ? "disable" : "enable"}`, { method: "POST" });
          await load();
        }),
        button("Edit", { class: "edit" }, async () => startEdit(s)),
        button("Rotate", { class: "rotate" }, async () => {
          rotating = s.name;
          const form = document.querySelector("#source-rotate-form");
          form.querySelector("#rotating-name").textContent = s.name;
          form.hidden = false;
        }),
        button("Delete", { class: "delete" }, async () => {
          await A().api(`sources/${enc(s.name)}`, { method: "DELETE" });
          A().say(`Source ${s.name} deleted.`);
          await load();
        })));
  }

  // Only the newest load may draw (see connections.js).
  let newestLoad = 0;
  async function load() {
    const { el } = A();
    const ticket = ++newestLoad;
    const view = document.querySelector("#view-sources");
    if (!view.querySelector("#source-form")) {
      view.replaceChildren(el("h2", {}, "Sources added at runtime"), el("div", { id: "sources-list" }), rotateForm(), editForm(), createForm());
    }
    const { sources } = await A().api("sources");
    if (ticket !== newestLoad) return;
    const heads = ["name", "scheme", "path", "settings", "secrets", "state", ""];
    const rows = sources.length ? sources.map(sourceRow) : [el("tr", {}, el("td", { colspan: heads.length, class: "muted" }, "No sources yet."))];
    view.querySelector("#sources-list").replaceChildren(el("table", { id: "sources" },
      el("thead", {}, el("tr", {}, ...heads.map((h) => el("th", {}, h)))), el("tbody", {}, ...rows)));
  }

  window.edgehooksSources = { load };
})();

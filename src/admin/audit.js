// edgehooks admin page: the Audit panel (loaded after admin.js, whose api/el/time helpers it
// uses through window.edgehooksAdmin). Lists the audit trail (GET /admin/api/audit), newest
// first, filtered by who and action, a page at a time ("Load more" follows next_cursor), and
// says who is signed in with which role (GET /admin/api/whoami). Data is only ever inserted as
// text.
"use strict";

(() => {
  const $ = (sel) => document.querySelector(sel);
  const audit = { cursor: null };

  function row(e) {
    const { el, time } = window.edgehooksAdmin;
    return el("tr", {},
      el("td", {}, time(e.at)),
      el("td", {}, e.who),
      el("td", {}, e.role),
      el("td", { class: "mono" }, e.action),
      el("td", { class: "mono" }, e.target ?? ""),
      el("td", {}, e.status),
      el("td", { class: "mono", title: e.body_sha256 ?? "" }, e.body_sha256 ? e.body_sha256.slice(0, 12) : ""));
  }

  async function load(fresh = true) {
    const { api, el } = window.edgehooksAdmin;
    const params = new URLSearchParams();
    for (const name of ["who", "action"]) {
      const value = $(`#audit-${name}`).value.trim();
      if (value) params.set(name, value);
    }
    if (!fresh && audit.cursor) params.set("cursor", audit.cursor);
    const page = await api(`audit?${params}`);
    const rows = page.entries.map(row);
    const body = $("#audit-table tbody");
    if (fresh) body.replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: 7, class: "muted" }, "No change recorded."))]));
    else body.append(...rows);
    audit.cursor = page.next_cursor;
    $("#audit-more").hidden = !page.next_cursor;
  }

  async function whoami() {
    const me = await window.edgehooksAdmin.api("whoami");
    $("#whoami").textContent = `${me.who} (${me.role})`;
  }

  window.edgehooksAudit = { load: () => load(true), whoami };

  document.addEventListener("DOMContentLoaded", () => {
    if (!$("#view-audit")) return;
    const { guard } = window.edgehooksAdmin;
    $("#audit-filters").addEventListener("submit", guard(async (ev) => { ev.preventDefault(); await load(true); }));
    $("#audit-more").addEventListener("click", guard(() => load(false)));
  });
})();

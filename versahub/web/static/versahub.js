// VersaHub launch page. Plain JavaScript, no external code. Every value that comes from a
// user, a link or the server is written with textContent / value / setAttribute -- never
// the HTML parser, so a repository called "<script>..." stays text.
(function () {
  "use strict";
  const jh = window.jhdata || {};
  const BASE = jh.base_url || "/hub/";
  const USER = jh.user || "";
  const DATA = JSON.parse(document.getElementById("vh-data").textContent || "{}");
  const PHASES = ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"];
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["repo", "ref", "urlpath", "server_name", "collaborators", "memory", "cpu",
    "max_duration", "idle_timeout"];
  let origin = { external: false, referrer: null };
  let lastResult = null;
  let checkSeq = 0;
  let checkTimer = null;
  let lastFocus = null;
  let events = null;
  let watching = false; // a progress stream is open or being opened
  let navigating = false;

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const enc = encodeURIComponent;

  async function api(method, path, body) {
    const opts = {
      method: method,
      credentials: "same-origin",
      headers: { "X-XSRFToken": jh.xsrf_token || "", Accept: "application/json" },
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    const resp = await fetch(BASE + "api/" + path, opts);
    let data = null;
    const text = await resp.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { message: text }; } }
    return { ok: resp.ok, status: resp.status, data: data };
  }

  // ------------------------------------------------------------------ form <-> spec
  function splitNames(text) {
    return text.split(/[\s,]+/).map((s) => s.trim()).filter(Boolean);
  }
  function readForm() {
    const spec = {};
    const val = (id) => $("f-" + id).value.trim();
    spec.repo = val("repo");
    if (val("ref")) spec.ref = val("ref");
    if (val("urlpath")) spec.urlpath = val("urlpath");
    if (val("server_name")) spec.server_name = val("server_name");
    const mounts = [];
    for (const row of $("vh-mount-rows").querySelectorAll("tr")) {
      mounts.push({
        volume: row.querySelector(".m-volume").value,
        path: row.querySelector(".m-path").value.trim(),
        mode: row.querySelector(".m-mode").value,
      });
    }
    if (mounts.length) spec.mounts = mounts;
    const collaborators = splitNames($("f-collaborators").value);
    if (collaborators.length) spec.collaborators = collaborators;
    spec.internet = $("f-internet").checked;
    spec.credentials = $("f-credentials").checked;
    spec.public_readonly = $("f-public_readonly").checked;
    const resources = {};
    for (const key of ["memory", "max_duration", "idle_timeout"]) {
      if (val(key)) resources[key] = val(key);
    }
    if (val("cpu")) {
      const n = Number(val("cpu"));
      resources.cpu = Number.isFinite(n) && val("cpu") !== "" ? n : val("cpu");
    }
    if (Object.keys(resources).length) spec.resources = resources;
    return spec;
  }
  function fillForm(spec) {
    const set = (id, v) => { $("f-" + id).value = v === undefined || v === null ? "" : String(v); };
    set("repo", spec.repo);
    set("ref", spec.ref && spec.ref !== "HEAD" ? spec.ref : "");
    set("urlpath", spec.urlpath);
    set("server_name", spec.server_name);
    $("vh-mount-rows").textContent = "";
    for (const m of spec.mounts || []) addMountRow(m);
    set("collaborators", (spec.collaborators || []).join(", "));
    $("f-internet").checked = spec.internet !== false;
    $("f-credentials").checked = !!spec.credentials;
    $("f-public_readonly").checked = !!spec.public_readonly;
    const r = spec.resources || {};
    set("memory", r.memory); set("cpu", r.cpu); set("max_duration", r.max_duration);
    set("idle_timeout", r.idle_timeout);
    const advanced = (spec.mounts || []).length || (spec.collaborators || []).length ||
      spec.credentials || spec.public_readonly || spec.internet === false;
    if (advanced) $("vh-advanced-access").open = true;
    if (Object.values(r).some((v) => v !== null && v !== undefined)) $("vh-advanced-resources").open = true;
  }
  function addMountRow(mount) {
    mount = mount || {};
    const index = $("vh-mount-rows").children.length;
    const row = el("tr");
    const volume = el("select", { class: "form-select m-volume", "aria-label": "Volume of mount " + (index + 1) });
    for (const v of DATA.volumes || []) {
      const opt = el("option", { value: v.name }, v.name);
      volume.appendChild(opt);
    }
    if (mount.volume) {
      if (![...volume.options].some((o) => o.value === mount.volume)) {
        volume.appendChild(el("option", { value: mount.volume }, mount.volume));
      }
      volume.value = mount.volume;
    }
    const path = el("input", { class: "form-control m-path", type: "text", spellcheck: "false",
      "aria-label": "Mount point of mount " + (index + 1), placeholder: "/home/jovyan/work" });
    path.value = mount.path || "";
    const mode = el("select", { class: "form-select m-mode", "aria-label": "Access of mount " + (index + 1) });
    mode.appendChild(el("option", { value: "ro" }, "read-only"));
    mode.appendChild(el("option", { value: "rw" }, "read-write"));
    mode.value = mount.mode === "rw" ? "rw" : "ro";
    const remove = el("button", { type: "button", class: "btn btn-sm btn-outline-danger",
      "aria-label": "Remove mount " + (index + 1) }, "Remove");
    remove.addEventListener("click", () => { row.remove(); scheduleCheck(); $("vh-add-mount").focus(); });
    for (const cell of [volume, path, mode, remove]) {
      const td = el("td"); td.appendChild(cell); row.appendChild(td);
    }
    $("vh-mount-rows").appendChild(row);
    return row;
  }

  // ------------------------------------------------------------------ validation
  function clearErrors() {
    for (const node of document.querySelectorAll(".vh-error")) node.textContent = "";
    for (const node of document.querySelectorAll("[aria-invalid]")) node.removeAttribute("aria-invalid");
    $("vh-form-error").hidden = true;
  }
  function fieldTarget(field) {
    let m = /^mounts\[(\d+)\]\.(volume|path|mode)$/.exec(field);
    if (m) {
      const row = $("vh-mount-rows").children[Number(m[1])];
      return { input: row ? row.querySelector(".m-" + m[2]) : null, error: "e-mounts" };
    }
    if (/^mounts/.test(field)) return { input: null, error: "e-mounts" };
    if (/^collaborators/.test(field)) return { input: $("f-collaborators"), error: "e-collaborators" };
    m = /^resources\.(\w+)$/.exec(field);
    if (m && $("f-" + m[1])) return { input: $("f-" + m[1]), error: "e-" + m[1] };
    if (FIELDS.includes(field)) return { input: $("f-" + field), error: "e-" + field };
    if (["internet", "credentials", "public_readonly"].includes(field)) {
      return { input: $("f-" + field), error: "e-flags" };
    }
    return { input: null, error: null };
  }
  function showError(error) {
    const t = fieldTarget(error.field);
    if (t.error) {
      $(t.error).textContent = error.message;
      if (t.error === "e-mounts" || t.error === "e-flags" || t.error === "e-collaborators") {
        const d = $(t.error).closest("details"); if (d) d.open = true;
      }
      if (/^e-(memory|cpu|max_duration|idle_timeout)$/.test(t.error)) $("vh-advanced-resources").open = true;
    } else {
      $("vh-form-error").textContent = error.message;
      $("vh-form-error").hidden = false;
    }
    if (t.input) t.input.setAttribute("aria-invalid", "true");
    return t.input;
  }
  function renderShare(result) {
    const ok = result && result.valid;
    $("vh-share-fields").hidden = !ok;
    $("vh-share-empty").hidden = !!ok;
    if (ok) {
      $("s-url").value = result.launch_url;
      $("s-md").value = result.badge_markdown;
      $("s-html").value = result.badge_html;
    }
  }
  async function check() {
    const seq = ++checkSeq;
    const spec = readForm();
    if (!spec.repo) {
      clearErrors(); renderShare(null); lastResult = null; $("vh-check-state").textContent = "";
      return null;
    }
    $("vh-check-state").textContent = "Checking\u2026";
    const resp = await api("POST", "versahub/check", { spec: spec, origin: origin });
    if (seq !== checkSeq) return null; // a newer check is on its way
    clearErrors();
    if (!resp.ok) {
      $("vh-check-state").textContent = "";
      showError({ field: "", message: (resp.data && resp.data.message) || "The check failed (HTTP " + resp.status + ")." });
      return null;
    }
    const result = resp.data;
    lastResult = result;
    renderShare(result);
    if (!result.valid) {
      showError(result.error);
      $("vh-check-state").textContent = "Fix the highlighted field.";
    } else if (!result.decision.allowed) {
      $("vh-check-state").textContent = "Not allowed on this site: " + result.decision.deny.map((f) => f.title).join("; ");
    } else if (result.decision.warn.length) {
      $("vh-check-state").textContent = result.decision.warn.length + " warning(s): you will be asked to confirm.";
    } else {
      $("vh-check-state").textContent = "Ready to launch.";
    }
    return result;
  }
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 350);
  }

  // ------------------------------------------------------------------ dialog
  function focusables(root) {
    return [...root.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])")]
      .filter((n) => !n.disabled && !n.hidden && n.offsetParent !== null);
  }
  let dialogResolve = null;
  function closeDialog(choice) {
    const d = $("vh-dialog");
    if (d.open) d.close();
    document.body.classList.remove("vh-modal-open");
    const resolve = dialogResolve; dialogResolve = null;
    if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
    if (resolve) resolve(choice);
  }
  function openDialog(result) {
    const d = $("vh-dialog");
    const denied = !result.decision.allowed;
    lastFocus = document.activeElement;
    $("vh-dialog-title").textContent = denied ? "This configuration is not allowed" : "Do you trust this configuration?";
    $("vh-dialog-intro").textContent = denied
      ? "The site's security policy refuses to start it. Each reason below says what to change."
      : "With the configuration below, a malicious image, repository or collaborator could do what is listed under \u201cWhat could happen\u201d. Launch it only if you trust where it comes from.";
    const originNote = $("vh-dialog-origin");
    if (result.origin && result.origin.external) {
      originNote.hidden = false;
      originNote.textContent = "You followed a link from " + (result.origin.referrer || "outside this hub") +
        ". Anyone can make such a link: check that it does what you expect.";
    } else {
      originNote.hidden = true;
    }
    const dl = $("vh-dialog-summary");
    dl.textContent = "";
    for (const item of result.summary || []) {
      const dt = el("dt", {}, item.label);
      const dd = el("dd", { class: item.risk ? "vh-risk" : "" }, item.text);
      dl.appendChild(dt); dl.appendChild(dd);
    }
    const findings = denied ? result.decision.deny : result.decision.warn;
    $("vh-dialog-findings-h").textContent = denied ? "Why it is refused" : "What could happen";
    const ul = $("vh-dialog-findings");
    ul.textContent = "";
    if (!findings.length) ul.appendChild(el("li", {}, "The policy found nothing to warn about."));
    for (const f of findings) {
      const li = el("li", { class: "vh-finding vh-sev-" + f.severity, "data-finding-id": f.id });
      const head = el("p", { class: "vh-finding-head" });
      head.appendChild(el("span", { class: "vh-sev" }, f.severity));
      head.appendChild(el("strong", {}, " " + f.title));
      li.appendChild(head);
      li.appendChild(el("p", {}, f.message));
      const mit = el("p", { class: "vh-mitigation" });
      mit.appendChild(el("span", { class: "vh-mit-label" }, denied ? "What to change: " : "To reduce the risk: "));
      mit.appendChild(document.createTextNode(f.mitigation));
      li.appendChild(mit);
      li.appendChild(el("p", { class: "vh-muted vh-finding-id" }, "rule: " + f.id));
      ul.appendChild(li);
    }
    $("vh-d-proceed").hidden = denied;
    $("vh-d-trust").hidden = denied;
    d.dataset.state = denied ? "denied" : "warn";
    document.body.classList.add("vh-modal-open");
    if (typeof d.showModal === "function") d.showModal(); else d.setAttribute("open", "");
    d.scrollTop = 0;
    (denied ? $("vh-d-edit") : $("vh-d-cancel")).focus({ preventScroll: true });
    return new Promise((resolve) => { dialogResolve = resolve; });
  }
  function initDialog() {
    const d = $("vh-dialog");
    d.addEventListener("cancel", (ev) => { ev.preventDefault(); closeDialog("cancel"); }); // Escape
    d.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") { ev.preventDefault(); closeDialog("cancel"); return; }
      if (ev.key !== "Tab") return;
      const items = focusables(d);
      if (!items.length) return;
      const first = items[0], last = items[items.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    });
    $("vh-d-proceed").addEventListener("click", () => closeDialog("proceed"));
    $("vh-d-trust").addEventListener("click", () => closeDialog("trust"));
    $("vh-d-edit").addEventListener("click", () => closeDialog("edit"));
    $("vh-d-cancel").addEventListener("click", () => closeDialog("cancel"));
  }

  // ------------------------------------------------------------------ launching
  function showForm(focus) {
    $("vh-form").hidden = false;
    $("vh-create").setAttribute("aria-expanded", "true");
    if (focus) $("f-repo").focus();
  }
  function userOptions(result) {
    // The spawner (versahub.hub) re-validates the spec and re-asks OPA with this origin;
    // the confirmation only counts for exactly this spec_id and these warning ids.
    const spec = Object.assign({}, result.spec);
    delete spec.source; delete spec.spec_id;
    return { spec: spec, confirmation: result.confirmation, origin: result.origin };
  }
  async function launch() {
    clearTimeout(checkTimer);
    const result = await check();
    if (!result) return;
    if (!result.valid) {
      const t = fieldTarget(result.error.field);
      if (t.input) t.input.focus(); else $("vh-form-error").focus();
      return;
    }
    const needDialog = !result.decision.allowed ||
      ((result.requires_confirmation || (result.origin && result.origin.external)) && !result.trusted);
    if (needDialog) {
      const choice = await openDialog(result);
      if (choice === "edit") { showForm(true); return; }
      if (choice !== "proceed" && choice !== "trust") return;
      if (choice === "trust") {
        const t = await api("POST", "versahub/trust", { spec: readSpecForTrust(result), origin: result.origin });
        if (!t.ok) { showError({ field: "", message: "Could not remember this configuration (HTTP " + t.status + ")." }); }
        loadTrusted();
      }
    }
    await start(result);
  }
  function readSpecForTrust(result) {
    const spec = Object.assign({}, result.spec);
    delete spec.source; delete spec.spec_id;
    return spec;
  }
  async function start(result) {
    const name = result.spec.server_name || result.suggested_server_name;
    const spec = Object.assign({}, result, { spec: Object.assign({}, result.spec, { server_name: name }) });
    const url = new URL(location.href);
    url.pathname = BASE + "home";
    url.search = "?progress=" + enc(name);
    history.replaceState(null, "", url.toString());
    showProgress(name);
    // The hub answers when the server is ready or after its slow_spawn_timeout; progress
    // events are read meanwhile, and again after a reload (the hub keeps them).
    const posting = api("POST", "users/" + enc(USER) + "/servers/" + enc(name), userOptions(spec));
    const early = setTimeout(async () => {
      const srv = await serverModel(name);
      if (srv && (srv.pending || srv.ready)) watchProgress(name, result.spec.urlpath || "");
    }, 500);
    setTimeout(loadServers, 800);
    const resp = await posting;
    loadServers();
    if (!resp.ok && !(resp.status === 400 && /already (running|pending)/i.test((resp.data && resp.data.message) || ""))) {
      clearTimeout(early);
      if (events) events.close();
      progressFailed("The hub refused to start the server: " + ((resp.data && resp.data.message) || ("HTTP " + resp.status)));
      history.replaceState(null, "", BASE + "home");
      return;
    }
    clearTimeout(early);
    if (!watching && !navigating) watchProgress(name, result.spec.urlpath || "");
  }
  function progressFailed(message) {
    renderPhases("waiting", true);
    $("vh-progress-message").textContent = message;
    $("vh-log").appendChild(document.createTextNode(message + "\n"));
    $("vh-progress-edit").hidden = false;
    loadServers();
  }
  function showProgress(name) {
    for (const id of ["vh-form", "vh-catalogue"]) $(id).hidden = true;
    $("vh-progress").hidden = false;
    $("vh-progress-name").textContent = "\u201c" + name + "\u201d";
    $("vh-progress-edit").hidden = true;
    $("vh-log").textContent = "";
    $("vh-progress-message").textContent = "Asking the hub to start it\u2026";
    renderPhases("waiting", false);
    $("vh-progress").scrollIntoView();
    $("vh-progress-h").setAttribute("tabindex", "-1");
    $("vh-progress-h").focus({ preventScroll: true });
  }
  function serverTarget(serverUrl, urlpath) {
    // Open urlpath inside the server, and nowhere else.
    const base = new URL(serverUrl, location.origin);
    const target = new URL((urlpath || "").replace(/^\/+/, ""), base);
    if (target.origin !== location.origin || !target.pathname.startsWith(base.pathname)) return base.toString();
    return target.toString();
  }
  function renderPhases(current, failed) {
    const ol = $("vh-phases");
    ol.textContent = "";
    const idx = PHASES.indexOf(current);
    PHASES.forEach((p, i) => {
      let state = i < idx ? "done" : i === idx ? "current" : "todo";
      if (failed && i === idx) state = "failed";
      const li = el("li", { class: "vh-phase vh-phase-" + state }, p);
      if (state === "current") li.setAttribute("aria-current", "step");
      ol.appendChild(li);
    });
  }
  function guessPhase(ev) {
    if (ev.phase) return ev.phase;
    if (ev.ready) return "ready";
    const prefix = /^([a-z]+): /.exec(ev.message || ""); // versahub.hub: "<phase>: message"
    if (prefix && PHASES.includes(prefix[1])) return prefix[1] === "ready" ? "launching" : prefix[1];
    const msg = (ev.message || "").toLowerCase();
    if (/pull|fetch|clon|resolv/.test(msg)) return "fetching";
    if (/build|step \d/.test(msg)) return "building";
    if (/push/.test(msg)) return "pushing";
    if (/built|cache hit|found image/.test(msg)) return "built";
    if (/start|launch|container|spawn/.test(msg)) return "launching";
    return "waiting";
  }
  async function watchProgress(name, urlpath) {
    if (watching) return;
    watching = true;
    if ($("vh-progress").hidden) showProgress(name);
    $("vh-log").textContent = "";
    let phase = "waiting";
    const srv = await serverModel(name);
    const known = srv && specOf(srv.user_options);
    if (!urlpath && known && known.urlpath) urlpath = known.urlpath;
    if (srv && srv.ready) {
      navigating = true;
      renderPhases("ready", false);
      $("vh-progress-message").textContent = "Ready. Opening " + (urlpath || "the server") + "\u2026";
      location.assign(serverTarget(srv.url, urlpath));
      return;
    }
    if (events) events.close();
    events = null;
    const src = BASE + "api/users/" + enc(USER) + "/servers/" + enc(name) + "/progress?_xsrf=" + enc(jh.xsrf_token || "");
    events = new EventSource(src);
    events.onmessage = (msg) => {
      let ev; try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (ev.phase && PHASES.includes(ev.phase)) phase = ev.phase; else {
        const g = guessPhase(ev); if (PHASES.indexOf(g) > PHASES.indexOf(phase)) phase = g;
      }
      if (ev.failed) { renderPhases(phase, true); } else renderPhases(phase, false);
      if (typeof ev.progress === "number") {
        $("vh-progress-bar").setAttribute("aria-valuenow", String(ev.progress));
        $("vh-progress-bar").firstElementChild.style.width = Math.max(0, Math.min(100, ev.progress)) + "%";
      }
      if (ev.message) {
        $("vh-progress-message").textContent = ev.message;
        $("vh-log").appendChild(document.createTextNode(ev.message + "\n"));
        $("vh-log").scrollTop = $("vh-log").scrollHeight;
      }
      if (ev.failed) {
        events.close();
        watching = false;
        $("vh-progress-message").textContent = "The launch failed: " + (ev.message || "see the log");
        $("vh-progress-edit").hidden = false;
        loadServers();
      } else if (ev.ready) {
        events.close();
        navigating = true;
        renderPhases("ready", false);
        $("vh-progress-message").textContent = "Ready. Opening " + (urlpath || "the server") + "\u2026";
        location.assign(serverTarget(ev.url, urlpath));
      }
    };
    events.onerror = () => {
      if (events.readyState === EventSource.CLOSED && !navigating) {
        watching = false;
        $("vh-progress-message").textContent = "The hub sends no progress for this server: it is not starting (see My servers), or the connection was lost (reload to reconnect).";
        $("vh-progress-edit").hidden = false;
        loadServers();
      }
    };
  }

  // ------------------------------------------------------------------ my servers / trust
  function specOf(userOptions) {
    if (!userOptions) return null;
    if (userOptions.spec && typeof userOptions.spec === "object") return userOptions.spec;
    if (userOptions.repo) return userOptions;
    return null;
  }
  async function serverModel(name) {
    const resp = await api("GET", "users/" + enc(USER) + "?include_stopped_servers=1");
    if (!resp.ok) return null;
    return (resp.data.servers || {})[name] || null;
  }
  function button(label, cls, onclick, aria) {
    const b = el("button", { type: "button", class: "btn btn-sm " + cls }, label);
    if (aria) b.setAttribute("aria-label", aria);
    b.addEventListener("click", onclick);
    return b;
  }
  async function loadServers() {
    const resp = await api("GET", "users/" + enc(USER) + "?include_stopped_servers=1");
    const tbody = $("vh-server-rows");
    tbody.textContent = "";
    const servers = resp.ok ? Object.values(resp.data.servers || {}) : [];
    const named = servers.filter((s) => s.name);
    $("vh-servers-table").hidden = !named.length;
    $("vh-servers-empty").hidden = !!named.length;
    for (const s of named.sort((a, b) => a.name.localeCompare(b.name))) {
      const spec = specOf(s.user_options);
      const tr = el("tr", { "data-server": s.name });
      tr.appendChild(el("th", { scope: "row" }, s.name));
      const sw = el("td");
      if (spec) {
        sw.appendChild(el("code", {}, spec.repo));
        sw.appendChild(document.createTextNode(" @ " + (spec.ref || "HEAD")));
      } else sw.textContent = "\u2014";
      tr.appendChild(sw);
      const state = s.ready ? "running" : s.pending ? s.pending + "\u2026" : s.stopped || !s.started ? "stopped" : "stopped";
      tr.appendChild(el("td", { class: "vh-state vh-state-" + state.replace("\u2026", "") }, state));
      const actions = el("td", { class: "vh-row-actions" });
      if (s.ready) {
        const a = el("a", { class: "btn btn-sm btn-primary", href: serverTarget(s.url, spec ? spec.urlpath : "") }, "Open");
        a.setAttribute("aria-label", "Open " + s.name);
        actions.appendChild(a);
        actions.appendChild(button("Stop", "btn-outline-secondary", async () => {
          await api("DELETE", "users/" + enc(USER) + "/servers/" + enc(s.name)); loadServers();
        }, "Stop " + s.name));
      } else if (s.pending) {
        actions.appendChild(button("Progress", "btn-outline-primary", () => watchProgress(s.name, spec ? spec.urlpath : ""), "Show progress of " + s.name));
      } else if (spec) {
        actions.appendChild(button("Start", "btn-primary", () => { fillForm(spec); showForm(false); launch(); }, "Start " + s.name));
      }
      if (spec) {
        actions.appendChild(button("Edit", "btn-outline-primary", () => { fillForm(spec); showForm(true); scheduleCheck(); }, "Edit " + s.name));
        actions.appendChild(button("Share link", "btn-outline-secondary", async () => {
          const r = await api("POST", "versahub/check", { spec: readSpecForTrust({ spec: spec }), origin: { external: false } });
          if (r.ok && r.data.valid) { await copyText(r.data.launch_url); $("vh-copied").textContent = "Launch link of " + s.name + " copied."; fillForm(spec); showForm(false); renderShare(r.data); }
        }, "Copy the launch link of " + s.name));
      }
      if (!s.ready && !s.pending) {
        actions.appendChild(button("Delete", "btn-outline-danger", async () => {
          if (!window.confirm("Delete the server " + s.name + "? Files outside mounted volumes are lost.")) return;
          await api("DELETE", "users/" + enc(USER) + "/servers/" + enc(s.name), { remove: true }); loadServers();
        }, "Delete " + s.name));
      }
      tr.appendChild(actions);
      tbody.appendChild(tr);
    }
  }
  async function loadTrusted() {
    const resp = await api("GET", "versahub/trust");
    const ul = $("vh-trusted-list");
    ul.textContent = "";
    const items = resp.ok ? resp.data.trusted || [] : [];
    $("vh-trusted-empty").hidden = items.length > 0;
    for (const t of items) {
      const li = el("li", { "data-spec-id": t.spec_id });
      li.appendChild(el("code", {}, t.repo || t.spec_id));
      li.appendChild(document.createTextNode(" \u2014 accepted: " + ((t.warn_ids || []).join(", ") || "no warnings") + " "));
      li.appendChild(button("Revoke", "btn-outline-danger", async () => {
        await api("DELETE", "versahub/trust/" + enc(t.spec_id)); loadTrusted(); if (lastResult) scheduleCheck();
      }, "Revoke trust in " + (t.repo || t.spec_id)));
      ul.appendChild(li);
    }
  }
  async function copyText(text) {
    try { await navigator.clipboard.writeText(text); return true; } catch (e) { return false; }
  }

  // ------------------------------------------------------------------ wiring
  function init() {
    initDialog();
    $("vh-create").addEventListener("click", () => {
      const open = $("vh-form").hidden;
      $("vh-form").hidden = !open;
      $("vh-create").setAttribute("aria-expanded", String(open));
      if (open) $("f-repo").focus();
    });
    $("vh-choose").addEventListener("click", () => {
      const open = $("vh-catalogue").hidden;
      $("vh-catalogue").hidden = !open;
      $("vh-choose").setAttribute("aria-expanded", String(open));
    });
    for (const b of document.querySelectorAll(".vh-use")) {
      b.addEventListener("click", () => {
        const entry = (DATA.catalogue || []).find((e) => e.id === b.dataset.entry);
        if (!entry) return;
        fillForm(entry.spec); showForm(true); check();
      });
    }
    $("vh-add-mount").addEventListener("click", () => {
      const row = addMountRow({}); row.querySelector(".m-path").focus(); scheduleCheck();
    });
    $("vh-form").addEventListener("input", scheduleCheck);
    $("vh-form").addEventListener("change", scheduleCheck);
    $("vh-form").addEventListener("submit", (ev) => { ev.preventDefault(); launch(); });
    for (const b of document.querySelectorAll("[data-copy]")) {
      b.addEventListener("click", async () => {
        const input = $(b.dataset.copy);
        const ok = await copyText(input.value);
        if (!ok) { input.select(); }
        $("vh-copied").textContent = ok ? "Copied." : "Selected: press Ctrl+C to copy.";
      });
    }
    $("vh-progress-back").addEventListener("click", () => {
      if (events) events.close();
      watching = false;
      $("vh-progress").hidden = true;
      history.replaceState(null, "", BASE + "home");
      loadServers();
    });
    $("vh-progress-edit").addEventListener("click", () => { $("vh-progress").hidden = true; showForm(true); });
    loadServers();
    loadTrusted();

    const params = new URLSearchParams(location.search);
    const launchData = DATA.launch;
    if (params.get("progress")) {
      watchProgress(params.get("progress"), "");
    } else if (launchData) {
      origin = launchData.origin || { external: true, referrer: null };
      if (launchData.error) {
        $("vh-link-error-text").textContent = launchData.error.message;
        $("vh-link-error").hidden = false;
        $("vh-link-error").focus();
      } else if (launchData.spec) {
        fillForm(launchData.spec);
        showForm(false);
        launch();
      }
    }
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init); else init();
})();

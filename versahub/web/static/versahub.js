// VersaHub launch page. Plain JavaScript, no external code. Every value that comes from a
// user, a link or the server is written with textContent / value / setAttribute -- never
// the HTML parser, so a repository called "<script>..." stays text.
//
// Launching goes through the hub's launch endpoint (POST /hub/api/versahub/launch, see
// docs/launch-page.md), which decides what a launch means: start a new server, open the
// one that already has this configuration, or ask (409 "differs") before changing one.
(function () {
  "use strict";
  const jh = window.jhdata || {};
  const BASE = jh.base_url || "/hub/";
  const USER = jh.user || "";
  const DATA = JSON.parse(document.getElementById("vh-data").textContent || "{}");
  const PHASES = ["waiting", "fetching", "building", "pushing", "built", "launching", "ready"];
  const UNAVAILABLE_ID = "policy-engine-unavailable";
  const POLL_MS = 500;
  const $ = (id) => document.getElementById(id);
  const FIELDS = ["repo", "ref", "urlpath", "server_name", "collaborators", "memory", "cpu",
    "max_duration", "idle_timeout"];
  const FIELD_LABELS = {
    repo: "Repository", ref: "Branch, tag or commit", urlpath: "Open after start",
    mounts: "Volumes", collaborators: "Collaborators", public_readonly: "Public read-only access",
    credentials: "Your credentials in the server", internet: "Internet access",
    resources: "Resources",
  };
  const RESOURCE_LABELS = { memory: "memory", cpu: "CPUs", max_duration: "stop after",
    idle_timeout: "stop when idle for" };
  let origin = { external: false, referrer: null };
  let lastResult = null;
  let checkSeq = 0;
  let checkTimer = null;
  let pollGen = 0; // bumping it stops the progress poller that is running

  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") node.className = v; else node.setAttribute(k, v);
    }
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  const enc = encodeURIComponent;
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

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
    let resp;
    try {
      resp = await fetch(BASE + "api/" + path, opts);
    } catch (e) {
      return { ok: false, status: 0, data: { message: "The hub could not be reached (" + e.message + ")." } };
    }
    let data = null;
    const text = await resp.text();
    if (text) { try { data = JSON.parse(text); } catch (e) { data = { message: text }; } }
    return { ok: resp.ok, status: resp.status, data: data };
  }
  function isUnavailable(decision) {
    return !!decision && (decision.deny || []).some((f) => f.id === UNAVAILABLE_ID);
  }
  const UNAVAILABLE_TEXT = "The site's policy engine is unavailable right now, so nothing can be " +
    "started. Try again in a few minutes.";

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
    // Only a name the user typed (or that a link or an existing server brought): without
    // one, the hub reopens the server that already has this configuration.
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
    for (const node of document.querySelectorAll("#vh-form [aria-invalid]")) node.removeAttribute("aria-invalid");
    $("vh-form-error").hidden = true;
  }
  function fieldTarget(field) {
    field = field || "";
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
    // The message echoes what was typed: textContent only.
    const t = fieldTarget(error.field);
    if (t.error) {
      if (!$(t.error).textContent) $(t.error).textContent = error.message;
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
  function errorsOf(doc) {
    // Every field's error at once: the hub answers errors[] (at most one per top-level
    // field of the spec), error = the first.
    return Array.isArray(doc.errors) && doc.errors.length ? doc.errors : [doc.error];
  }
  const RESOURCE_FIELD = /^resources\.(\w+)$/;
  async function resourceErrors(spec, errors, seq) {
    // The form has one input per resource but errors[] one error for all of them: ask
    // again without each bad resource, so the other resources' errors show too.
    const current = JSON.parse(JSON.stringify(spec));
    let err = errors.find((e) => RESOURCE_FIELD.test(e.field || ""));
    for (let i = 0; err && current.resources && i < 4; i++) {
      delete current.resources[RESOURCE_FIELD.exec(err.field)[1]];
      const r = await api("POST", "versahub/check", { spec: current, origin: origin });
      if (seq !== checkSeq) return null;
      if (!r.ok || !r.data || r.data.valid !== false) break;
      err = errorsOf(r.data).find((e) => RESOURCE_FIELD.test(e.field || "") &&
        !errors.some((x) => x.field === e.field));
      if (err) errors.push(err);
    }
    return errors;
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
    renderLaunchOn(ok ? result.launch_on || [] : []);
  }
  // "Launch on ..." other hubs (site.yaml federation.hubs): text only, links open elsewhere
  function renderLaunchOn(targets) {
    const list = $("vh-launch-on-list");
    list.textContent = "";
    $("vh-launch-on").hidden = targets.length === 0;
    for (const t of targets) {
      const a = el("a", { href: t.url, target: "_blank", rel: "noopener noreferrer",
        class: "vh-launch-on-link" }, "Launch on " + t.name);
      const li = el("li", {});
      li.appendChild(a);
      if (t.description) li.appendChild(el("span", { class: "vh-muted" }, " - " + t.description));
      if (t.note) li.appendChild(el("div", { class: "vh-muted vh-launch-on-note" }, t.note));
      list.appendChild(li);
    }
  }
  function checkState(result) {
    const decision = result.decision;
    if (isUnavailable(decision)) return UNAVAILABLE_TEXT;
    if (!decision.allowed) return "Not allowed on this site: " + decision.deny.map((f) => f.title).join("; ");
    if (result.trusted) return "Ready to launch (you chose not to be asked again for this configuration).";
    const n = decision.warn.length;
    if (n && result.requires_confirmation) {
      return n + (n === 1 ? " warning" : " warnings") + ": you will be asked to confirm.";
    }
    return "Ready to launch.";
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
    if (!resp.ok) {
      clearErrors();
      $("vh-check-state").textContent = "";
      showError({ field: "", message: (resp.data && resp.data.message) || "The check failed (HTTP " + resp.status + ")." });
      return null;
    }
    const result = resp.data;
    lastResult = result;
    if (!result.valid) {
      const errors = await resourceErrors(spec, errorsOf(result).slice(), seq);
      if (!errors) return null; // a newer check is on its way
      clearErrors();
      renderShare(result);
      for (const e of errors) showError(e);
      $("vh-check-state").textContent = errors.length > 1
        ? "Fix the " + errors.length + " highlighted fields." : "Fix the highlighted field.";
      return result;
    }
    clearErrors();
    renderShare(result);
    $("vh-check-state").textContent = checkState(result);
    return result;
  }
  function scheduleCheck() {
    clearTimeout(checkTimer);
    checkTimer = setTimeout(check, 350);
  }

  // ------------------------------------------------------------------ modal dialogs
  // Native <dialog>s: focus starts on a given button, Tab stays inside, Escape cancels,
  // focus returns where it was.
  function focusables(root) {
    return [...root.querySelectorAll("button, [href], input, select, textarea, [tabindex]:not([tabindex='-1'])")]
      .filter((n) => !n.disabled && !n.hidden && n.offsetParent !== null);
  }
  let modal = null; // {dialog, resolve, lastFocus}
  function closeModal(choice) {
    if (!modal) return;
    const { dialog, resolve, lastFocus } = modal;
    modal = null;
    if (dialog.open) dialog.close();
    document.body.classList.remove("vh-modal-open");
    if (lastFocus && document.contains(lastFocus)) lastFocus.focus();
    resolve(choice);
  }
  function showModal(dialog, focusOn) {
    if (modal) closeModal("cancel");
    const lastFocus = document.activeElement;
    document.body.classList.add("vh-modal-open");
    if (typeof dialog.showModal === "function") dialog.showModal(); else dialog.setAttribute("open", "");
    dialog.scrollTop = 0;
    focusOn.focus({ preventScroll: true });
    return new Promise((resolve) => { modal = { dialog: dialog, resolve: resolve, lastFocus: lastFocus }; });
  }
  function initModal(dialog, choices) {
    dialog.addEventListener("cancel", (ev) => { ev.preventDefault(); closeModal("cancel"); }); // Escape
    dialog.addEventListener("keydown", (ev) => {
      if (ev.key === "Escape") { ev.preventDefault(); closeModal("cancel"); return; }
      if (ev.key !== "Tab") return;
      const items = focusables(dialog);
      if (!items.length) return;
      const first = items[0], last = items[items.length - 1];
      if (ev.shiftKey && document.activeElement === first) { ev.preventDefault(); last.focus(); }
      else if (!ev.shiftKey && document.activeElement === last) { ev.preventDefault(); first.focus(); }
    });
    for (const [id, choice] of Object.entries(choices)) {
      $(id).addEventListener("click", () => closeModal(choice));
    }
  }
  function renderFindings(ul, findings, denied) {
    ul.textContent = "";
    for (const f of findings) {
      const li = el("li", { class: "vh-finding vh-sev-" + f.severity, "data-finding-id": f.id });
      const head = el("p", { class: "vh-finding-head" });
      head.appendChild(el("span", { class: "vh-sev" }, f.severity));
      head.appendChild(el("strong", {}, " " + f.title));
      li.appendChild(head);
      li.appendChild(el("p", {}, f.message));
      if (f.mitigation) {
        const mit = el("p", { class: "vh-mitigation" });
        mit.appendChild(el("span", { class: "vh-mit-label" }, denied ? "What to change: " : "To reduce the risk: "));
        mit.appendChild(document.createTextNode(f.mitigation));
        li.appendChild(mit);
      }
      li.appendChild(el("p", { class: "vh-muted vh-finding-id" }, "rule: " + f.id));
      ul.appendChild(li);
    }
  }
  function openRiskDialog(result) {
    const d = $("vh-dialog");
    const denied = !result.decision.allowed;
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
      dl.appendChild(el("dt", {}, item.label));
      dl.appendChild(el("dd", { class: item.risk ? "vh-risk" : "" }, item.text));
    }
    const findings = denied ? result.decision.deny : result.decision.warn;
    $("vh-dialog-findings-h").textContent = denied ? "Why it is refused" : "What could happen";
    const ul = $("vh-dialog-findings");
    renderFindings(ul, findings, denied);
    if (!findings.length) ul.appendChild(el("li", {}, "The policy found nothing to warn about."));
    $("vh-d-proceed").hidden = denied;
    $("vh-d-trust").hidden = denied;
    d.dataset.state = denied ? "denied" : "warn";
    return showModal(d, denied ? $("vh-d-edit") : $("vh-d-cancel"));
  }
  function describeValue(field, v) {
    if (v === null || v === undefined || v === "") {
      return field === "urlpath" ? "(the server's default page)" : "(none)";
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    if (field === "mounts" && Array.isArray(v)) {
      if (!v.length) return "(none)";
      return v.map((m) => m.volume + " at " + m.path + " (" + (m.mode === "rw" ? "read-write" : "read-only") + ")").join("; ");
    }
    if (field === "resources" && typeof v === "object") {
      const parts = Object.entries(v).filter(([, x]) => x !== null && x !== undefined && x !== "")
        .map(([k, x]) => (RESOURCE_LABELS[k] || k) + " " + x);
      return parts.length ? parts.join(", ") : "(the site's defaults)";
    }
    if (Array.isArray(v)) return v.length ? v.join(", ") : "(none)";
    if (typeof v === "object") return JSON.stringify(v);
    return String(v);
  }
  function openDiffersDialog(answer) {
    $("vh-differs-intro").textContent = "Your server \u201c" + answer.server_name +
      "\u201d was created with another configuration. These settings differ:";
    const tbody = $("vh-differs-rows");
    tbody.textContent = "";
    for (const d of answer.differences || []) {
      const tr = el("tr", { "data-field": d.field });
      tr.appendChild(el("th", { scope: "row" }, FIELD_LABELS[d.field] || d.field));
      tr.appendChild(el("td", { class: "vh-diff-old" }, describeValue(d.field, d.old)));
      tr.appendChild(el("td", { class: "vh-diff-new" }, describeValue(d.field, d.new)));
      tbody.appendChild(tr);
    }
    return showModal($("vh-differs"), $("vh-x-cancel"));
  }

  // ------------------------------------------------------------------ launching
  function showForm(focus) {
    $("vh-form").hidden = false;
    $("vh-create").setAttribute("aria-expanded", "true");
    if (focus) $("f-repo").focus();
  }
  function requestSpec(result) {
    // The canonical spec of the check, without its derived keys and without an empty name
    // (the hub then reopens the server that already has this configuration).
    const spec = Object.assign({}, result.spec);
    delete spec.source; delete spec.spec_id; delete spec.provider;
    if (!spec.server_name) delete spec.server_name;
    return spec;
  }
  async function launch(options) {
    const force = !!(options && options.forceDialog);
    clearTimeout(checkTimer);
    const result = await check();
    if (!result) return;
    if (!result.valid) {
      const t = fieldTarget(result.error.field);
      if (t.input) t.input.focus(); else $("vh-form-error").focus();
      return;
    }
    if (isUnavailable(result.decision)) {
      showError({ field: "", message: UNAVAILABLE_TEXT });
      $("vh-form-error").focus();
      return;
    }
    const needDialog = force || !result.decision.allowed ||
      ((result.requires_confirmation || (result.origin && result.origin.external)) && !result.trusted);
    if (needDialog) {
      const choice = await openRiskDialog(result);
      if (choice === "edit") { showForm(true); return; }
      if (choice !== "proceed" && choice !== "trust") return;
      if (choice === "trust") {
        const t = await api("POST", "versahub/trust", { spec: requestSpec(result), origin: result.origin });
        if (!t.ok) showError({ field: "", message: "Could not remember this configuration (HTTP " + t.status + ")." });
        loadTrusted();
      }
    }
    await start(result, null);
  }
  function setProgressAddress(name) {
    const url = new URL(location.href);
    url.pathname = BASE + "home";
    url.search = name ? "?progress=" + enc(name) : "";
    history.replaceState(null, "", url.toString());
  }
  async function start(result, action) {
    const body = { spec: requestSpec(result), origin: result.origin };
    if (result.confirmation) body.confirmation = result.confirmation;
    if (action) body.action = action;
    const name = body.spec.server_name || "";
    showProgress(name);
    if (name) setProgressAddress(name);
    // While the hub answers (it waits up to its slow_spawn_timeout), show the events of a
    // start that is under way; the answer decides what happens next.
    const gen = name ? followProgress(name, { passive: true }) : ++pollGen;
    const listed = setTimeout(loadServers, 800); // the new or starting server in My servers
    const resp = await api("POST", "versahub/launch", body);
    clearTimeout(listed);
    if (gen === pollGen) pollGen++; // stop the passive follower
    loadServers();
    await handleAnswer(resp, result);
  }
  async function handleAnswer(resp, result) {
    const answer = resp.data || {};
    const name = answer.server_name || "";
    switch (typeof answer.status === "string" ? answer.status : "") {
      case "ready":
      case "starting":
        setProgressAddress(name);
        $("vh-progress-name").textContent = "\u201c" + name + "\u201d";
        followProgress(name, { passive: false });
        return;
      case "differs": {
        hideProgress();
        const choice = await openDiffersDialog(answer);
        if (choice === "update" || choice === "open") { await start(result, choice); return; }
        showForm(true);
        return;
      }
      case "invalid":
        hideProgress();
        showForm(false);
        clearErrors();
        if (!answer.error) answer.error = { field: "", message: answer.message || "Invalid configuration." };
        (errorsOf(answer).map(showError)[0] || $("vh-form-error")).focus();
        return;
      case "confirmation-required":
        // The decision changed since the page checked (a new policy, a revoked trust).
        hideProgress();
        showForm(false);
        await launch({ forceDialog: true });
        return;
      case "denied":
        showFailure(name, {
          text: "The site's security policy refuses to start this configuration. Each reason says what to change.",
          findings: (answer.decision && answer.decision.deny) || [],
        });
        return;
      case "unavailable":
        showFailure(name, { text: UNAVAILABLE_TEXT });
        return;
      case "refused":
        showFailure(name, { text: "The server was not started: " + (answer.message || "HTTP " + resp.status) });
        return;
      case "failed": {
        const doc = name ? await launchState(name) : null;
        if (doc) renderEvents(doc);
        showFailure(name, Object.assign({}, doc || {}, answer));
        return;
      }
      default:
        showFailure(name, { text: "The launch did not go through: " + ((answer && answer.message) || "HTTP " + resp.status) });
    }
  }
  function hideProgress() {
    pollGen++;
    $("vh-progress").hidden = true;
    setProgressAddress("");
  }
  function showProgress(name) {
    for (const id of ["vh-form", "vh-catalogue"]) $(id).hidden = true;
    $("vh-progress").hidden = false;
    $("vh-progress").dataset.state = "starting";
    $("vh-progress-h").firstChild.textContent = "Starting ";
    $("vh-progress-name").textContent = name ? "\u201c" + name + "\u201d" : "your server";
    $("vh-progress-edit").hidden = true;
    $("vh-failure").hidden = true;
    $("vh-log").textContent = "";
    $("vh-log").dataset.sig = "";
    $("vh-progress-message").textContent = "Checking the configuration and looking for its image\u2026";
    setBar(0);
    renderPhases("waiting", false);
    $("vh-progress").scrollIntoView();
    $("vh-progress-h").setAttribute("tabindex", "-1");
    $("vh-progress-h").focus({ preventScroll: true });
  }
  function setBar(value) {
    const v = Math.max(0, Math.min(100, Number(value) || 0));
    $("vh-progress-bar").setAttribute("aria-valuenow", String(v));
    $("vh-progress-bar").firstElementChild.style.width = v + "%";
  }
  function renderPhases(current, failed) {
    const ol = $("vh-phases");
    ol.textContent = "";
    const idx = PHASES.indexOf(current);
    PHASES.forEach((p, i) => {
      let state = i < idx ? "done" : i === idx ? "current" : "todo";
      if (failed && i === idx) state = "failed";
      const li = el("li", { class: "vh-phase vh-phase-" + state, "data-phase": p }, p);
      if (state === "current") li.setAttribute("aria-current", "step");
      if (state === "failed") li.setAttribute("aria-label", p + " (failed)");
      ol.appendChild(li);
    });
  }
  function lastPhase(events) {
    for (let i = events.length - 1; i >= 0; i--) {
      if (PHASES.includes(events[i].phase)) return events[i].phase;
    }
    return "waiting";
  }
  function renderEvents(doc) {
    const events = (doc.events || []).filter((e) => !e.final);
    const log = $("vh-log");
    const last = events[events.length - 1];
    const sig = events.length + "|" + (events[0] ? events[0].message : "") + "|" + (last ? last.message : "");
    if (log.dataset.sig !== sig) {
      log.dataset.sig = sig;
      log.textContent = events.map((e) => "[" + (e.phase || "") + "] " + (e.message || "")).join("\n");
      log.scrollTop = log.scrollHeight;
    }
    if (!last) return;
    if (last.phase !== "failed") {
      renderPhases(lastPhase(events), false);
      if (typeof last.progress === "number") setBar(last.progress);
      if (last.message) $("vh-progress-message").textContent = last.message;
    }
  }
  async function launchState(name) {
    const r = await api("GET", "versahub/launch/" + enc(name));
    return r.ok ? r.data : null;
  }
  function followProgress(name, opts) {
    // Poll GET /hub/api/versahub/launch/<server> until the server is ready or the launch
    // failed. A passive follower (while the launch request is still being answered) only
    // shows a start that is under way: what it sees otherwise may be an earlier launch.
    const gen = ++pollGen;
    const passive = !!(opts && opts.passive);
    (async () => {
      let quiet = 0;
      if (passive) await sleep(POLL_MS);
      while (gen === pollGen) {
        const r = await api("GET", "versahub/launch/" + enc(name));
        if (gen !== pollGen) return;
        const doc = r.ok ? r.data : null;
        if (doc && doc.status === "starting") {
          quiet = 0;
          renderEvents(doc);
        } else if (!passive && doc && doc.status === "ready") {
          renderEvents(doc);
          openServer(doc.url);
          return;
        } else if (!passive && doc && doc.status === "failed") {
          renderEvents(doc);
          showFailure(name, doc);
          return;
        } else if (!passive && ++quiet >= 6) {
          const why = r.status === 404 ? "The hub has no launch of \u201c" + name + "\u201d." :
            doc && doc.status === "stopped" ? "\u201c" + name + "\u201d is stopped: it is not starting (see My servers)." :
            "The hub does not answer (" + ((r.data && r.data.message) || "HTTP " + r.status) + "); reload to try again.";
          showFailure(name, { text: why, quiet: true });
          return;
        }
        await sleep(POLL_MS);
      }
    })();
    return gen;
  }
  function showFailure(name, doc) {
    pollGen++;
    $("vh-progress").hidden = false;
    for (const id of ["vh-form", "vh-catalogue"]) $(id).hidden = true;
    $("vh-progress").dataset.state = "failed";
    $("vh-progress-h").firstChild.textContent = "Could not start ";
    $("vh-progress-name").textContent = name ? "\u201c" + name + "\u201d" : "your server";
    const events = (doc.events || []).filter((e) => !e.final);
    if (!doc.quiet) {
      let phase = doc.failed_phase && PHASES.includes(doc.failed_phase) ? doc.failed_phase : lastPhase(events);
      if (phase === "ready") phase = "launching";
      renderPhases(phase, true);
    }
    // "The image could not be built: repo2docker failed (exit 1); last lines:\n...": the
    // first line is the reason, the rest is the tail of the build log.
    const message = doc.text || doc.message || "The launch failed.";
    const cut = message.indexOf("\n");
    $("vh-failure-text").textContent = cut < 0 ? message : message.slice(0, cut);
    $("vh-failure-log").textContent = cut < 0 ? "" : message.slice(cut + 1);
    $("vh-failure-log").hidden = cut < 0;
    const findings = doc.findings || [];
    renderFindings($("vh-failure-findings"), findings, true);
    $("vh-failure-findings").hidden = !findings.length;
    $("vh-failure").hidden = false;
    $("vh-progress-message").textContent = "";
    $("vh-progress-edit").hidden = false;
    $("vh-failure").focus({ preventScroll: false });
    loadServers();
  }
  function openServer(url) {
    // Only ever a page of this hub (the hub's url is the server's urlpath, inside it).
    const target = new URL(url || "", location.origin);
    if (target.origin !== location.origin || !target.pathname.includes("/user/")) {
      showFailure("", { text: "The hub answered with an unexpected address; open the server from My servers." });
      return;
    }
    renderPhases("ready", false);
    setBar(100);
    $("vh-progress-message").textContent = "Ready. Opening " + target.pathname + "\u2026";
    location.assign(target.toString());
  }

  // ------------------------------------------------------------------ catalogue
  async function markCatalogue() {
    // Say before any click which entries this user may not launch (the same check the hub
    // runs at launch time; the hub still enforces).
    const cards = [...document.querySelectorAll(".vh-card[data-entry]")];
    await Promise.all(cards.map(async (card) => {
      const entry = (DATA.catalogue || []).find((e) => e.id === card.dataset.entry);
      if (!entry) return;
      const r = await api("POST", "versahub/check", { spec: requestSpec(entry), origin: { external: false, referrer: null } });
      if (!r.ok || !r.data) return;
      let why = null;
      if (!r.data.valid) why = "Not available: " + r.data.error.message;
      else if (isUnavailable(r.data.decision)) why = "Not available right now: the policy engine is unavailable (try again later).";
      else if (!r.data.decision.allowed) {
        const first = r.data.decision.deny[0];
        why = "Not available to you: " + (first ? first.title : "refused by the site's policy");
      }
      if (!why) return;
      const note = card.querySelector(".vh-unavailable");
      note.textContent = why;
      note.hidden = false;
      card.classList.add("vh-card-unavailable");
      const use = card.querySelector(".vh-use");
      use.disabled = true;
      use.setAttribute("aria-describedby", note.id);
    }));
    document.body.dataset.catalogueChecked = "true";
  }

  // ------------------------------------------------------------------ my servers / trust
  function specOf(userOptions) {
    if (!userOptions) return null;
    if (userOptions.spec && typeof userOptions.spec === "object") return userOptions.spec;
    if (userOptions.repo) return userOptions;
    return null;
  }
  function button(label, cls, onclick, aria) {
    const b = el("button", { type: "button", class: "btn btn-sm " + cls }, label);
    if (aria) b.setAttribute("aria-label", aria);
    b.addEventListener("click", onclick);
    return b;
  }
  function serverTarget(serverUrl, urlpath) {
    // Open urlpath inside the server, and nowhere else.
    const base = new URL(serverUrl, location.origin);
    const target = new URL((urlpath || "").replace(/^\/+/, ""), base);
    if (target.origin !== location.origin || !target.pathname.startsWith(base.pathname)) return base.toString();
    return target.toString();
  }
  function copyOf(userOptions) {
    // a public read-only copy of someone's server: {owner, server}
    const src = userOptions && userOptions.public_copy_of;
    return src && typeof src === "object" ? src : null;
  }
  function publicLink(name) {
    // the same address the hub serves: /hub/versahub/public/<owner>/<server>
    return new URL(BASE + "versahub/public/" + enc(USER) + "/" + enc(name), location.origin).toString();
  }
  function publicRow(name) {
    // the owner's "Public link" control: the address, Copy, Revoke
    const id = "vh-public-" + name;
    const tr = el("tr", { class: "vh-public-row", "data-public-server": name });
    const td = el("td", { colspan: "4" });
    td.appendChild(el("label", { for: id, class: "vh-public-label" }, "Public link of " + name));
    const box = el("div", { class: "vh-copy" });
    const input = el("input", { id: id, type: "text", readonly: "", "aria-describedby": id + "-help" });
    input.value = publicLink(name);
    box.appendChild(input);
    box.appendChild(button("Copy", "btn-outline-secondary", async () => {
      const ok = await copyText(input.value);
      if (!ok) input.select();
      $("vh-servers-note").textContent = ok ? "Public link of " + name + " copied." : "Selected: press Ctrl+C to copy.";
    }, "Copy the public link of " + name));
    box.appendChild(button("Revoke", "btn-outline-danger", async () => {
      if (!window.confirm("Revoke the public link of " + name + "? The link stops working and every read-only copy of it is stopped.")) return;
      const r = await api("DELETE", "versahub/public/" + enc(name));
      const copies = r.ok ? (r.data.copies || []).length : 0;
      $("vh-servers-note").textContent = r.ok
        ? "Public link of " + name + " revoked" + (copies ? "; " + copies + " cop" + (copies === 1 ? "y" : "ies") + " stopped." : ".")
        : "The public link of " + name + " could not be revoked: " + ((r.data && r.data.message) || r.status);
      loadServers();
    }, "Revoke the public link of " + name));
    td.appendChild(box);
    td.appendChild(el("p", { id: id + "-help", class: "vh-help" },
      "Anyone with this link can open a temporary read-only copy: the same software, every folder read-only, nothing of your home folder, no credentials."));
    tr.appendChild(td);
    return tr;
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
      const copy = copyOf(s.user_options);
      const tr = el("tr", { "data-server": s.name });
      tr.appendChild(el("th", { scope: "row" }, s.name));
      const sw = el("td");
      if (spec) {
        sw.appendChild(el("code", {}, spec.repo));
        sw.appendChild(document.createTextNode(" @ " + (spec.ref || "HEAD")));
      } else if (copy) {
        sw.textContent = "Read-only copy of " + copy.owner + "/" + copy.server;
      } else sw.textContent = "\u2014";
      tr.appendChild(sw);
      const state = s.ready ? "running" : s.pending ? s.pending + "\u2026" : "stopped";
      tr.appendChild(el("td", { class: "vh-state vh-state-" + state.replace("\u2026", "") }, state));
      const actions = el("td", { class: "vh-row-actions" });
      const named = spec ? Object.assign({}, spec, { server_name: s.name }) : null;
      if (s.ready) {
        const a = el("a", { class: "btn btn-sm btn-primary", href: serverTarget(s.url, spec ? spec.urlpath : "") }, "Open");
        a.setAttribute("aria-label", "Open " + s.name);
        actions.appendChild(a);
        actions.appendChild(button("Stop", "btn-outline-secondary", async () => {
          await api("DELETE", "users/" + enc(USER) + "/servers/" + enc(s.name)); loadServers();
        }, "Stop " + s.name));
      } else if (s.pending) {
        actions.appendChild(button("Progress", "btn-outline-primary", () => {
          showProgress(s.name); setProgressAddress(s.name); followProgress(s.name, { passive: false });
        }, "Show progress of " + s.name));
      } else if (named) {
        actions.appendChild(button("Start", "btn-primary", () => { fillForm(named); showForm(false); launch(); }, "Start " + s.name));
      }
      if (named) {
        actions.appendChild(button("Edit", "btn-outline-primary", () => { fillForm(named); showForm(true); scheduleCheck(); }, "Edit " + s.name));
        actions.appendChild(button("Share link", "btn-outline-secondary", async () => {
          const r = await api("POST", "versahub/check", { spec: requestSpec({ spec: named }), origin: { external: false } });
          if (r.ok && r.data.valid) { await copyText(r.data.launch_url); $("vh-copied").textContent = "Launch link of " + s.name + " copied."; fillForm(named); showForm(false); renderShare(r.data); }
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
      if (spec && spec.public_readonly) tbody.appendChild(publicRow(s.name));
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
    initModal($("vh-dialog"), { "vh-d-proceed": "proceed", "vh-d-trust": "trust", "vh-d-edit": "edit", "vh-d-cancel": "cancel" });
    initModal($("vh-differs"), { "vh-x-update": "update", "vh-x-open": "open", "vh-x-cancel": "cancel" });
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
      hideProgress();
      loadServers();
    });
    $("vh-progress-edit").addEventListener("click", () => { hideProgress(); showForm(true); });
    loadServers();
    loadTrusted();
    markCatalogue();

    const params = new URLSearchParams(location.search);
    const launchData = DATA.launch;
    if (params.get("progress")) {
      // A reload while a server starts: follow its launch again (the hub keeps the events).
      const name = params.get("progress");
      showProgress(name);
      followProgress(name, { passive: false });
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

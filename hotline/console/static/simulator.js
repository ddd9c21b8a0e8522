// The phone simulator's page. The server plays the provider the local gateway stands in for: every move here
// becomes that provider's signed request to the real webhooks. This script only shows what happened.
(function () {
  "use strict";
  const words = JSON.parse(document.getElementById("sim-words").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const $ = (id) => document.getElementById(id);
  const voice = Boolean($("dial"));  // no call controls where the channel carries no calls
  let people = [], phone = null, call = null, shownSaid = 0, ringingSid = null, threadKey = "";

  async function api(method, url, body) {
    const response = await fetch(url, {
      method, credentials: "same-origin",
      headers: { "Accept": "application/json", "Content-Type": "application/json", "X-CSRF-Token": csrf },
      body: body ? JSON.stringify(body) : undefined,
    });
    const data = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(data.error || response.status);
    return data;
  }
  const fill = (template, fields) => template.replace(/\{(\w+)\}/g, (_, k) => fields[k] ?? "");
  function showError(error) { $("call-error").textContent = error ? fill(words.sim_error, { error: error.message || error }) : ""; }

  // ── who is played ──────────────────────────────────────────────────────────────────────────────────────────
  async function loadPeople() {
    const q = encodeURIComponent($("search").value.trim());
    people = (await api("GET", "/simulator/api/people?q=" + q)).people;
    const select = $("person");
    select.innerHTML = "";
    const groups = [["liaison", false, words.sim_liaisons], ["resident", false, words.sim_residents_sms],
                    ["resident", true, words.sim_residents_voice]];
    for (const [kind, voice, label] of groups) {
      const group = document.createElement("optgroup");
      group.label = label;
      people.forEach((p, i) => {
        if (p.kind !== kind || (kind === "resident" && p.voice !== voice)) return;
        const option = new Option(`${p.name} · ${p.phone}`, String(i));
        option.dataset.phone = p.phone;
        option.dataset.kind = kind;
        option.dataset.voice = String(p.voice);
        option.dataset.shared = String(p.shared);
        group.appendChild(option);
      });
      if (group.children.length) select.appendChild(group);
    }
    if (phone) select.value = String(people.findIndex((p) => p.phone === phone));
  }
  // Where the player came from: switching from a resident to their liaison offers the way back.
  let cameFrom = null;
  function choose(index, from) {
    const person = people[index];
    if (!person) return;
    cameFrom = from && from.phone !== person.phone ? from : null;
    phone = person.phone; threadKey = ""; ringingSid = null;
    const role = person.role ? words["sim_role_" + person.role] || "" : "";
    $("who").textContent = [person.name, person.detail, role].filter(Boolean).join(" · ");
    const sw = $("switch");
    if (person.liaison_phone) {
      sw.hidden = false;
      sw.textContent = fill(words.sim_their_liaison, { name: person.liaison }) + " → " + words.sim_switch;
      sw.dataset.phone = person.liaison_phone;
    } else if (cameFrom) {
      sw.hidden = false;
      sw.textContent = "← " + fill(words.sim_back_to, { name: cameFrom.name });
      sw.dataset.phone = cameFrom.phone;
    } else sw.hidden = true;
    $("thread").innerHTML = "";
    refresh();
  }
  async function switchTo(target) {
    const from = people.find((p) => p.phone === phone);
    if (!people.some((p) => p.phone === target)) { $("search").value = ""; await loadPeople(); }
    const index = people.findIndex((p) => p.phone === target);
    if (index >= 0) { $("person").value = String(index); choose(index, from && { phone: from.phone, name: from.name }); }
  }
  // A time as the hotline's people read it: in the hotline's timezone, on a 24-hour clock.
  const zone = document.getElementById("intro").dataset.timezone || undefined;
  const clock = (at) => new Date(at).toLocaleTimeString(document.documentElement.lang || "zh-CN",
    { timeZone: zone, hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit" });

  // ── SMS ────────────────────────────────────────────────────────────────────────────────────────────────────
  function showThread(items) {
    const key = items.map((m) => m.id + ":" + (m.status || "")).join(",");
    if (key === threadKey) return;
    threadKey = key;
    const box = $("thread");
    box.innerHTML = "";
    if (!items.length) { box.textContent = words.sim_thread_empty; return; }
    for (const m of items) {
      const bubble = document.createElement("div");
      bubble.className = "bubble " + (m.from === "me" ? "out" : "in");
      bubble.dataset.from = m.from;
      const when = document.createElement("small");
      when.textContent = (m.from === "me" ? "" : words.sim_from_hotline + " · ") + clock(m.at);
      bubble.append(when, document.createTextNode(m.body));
      if (m.from === "hotline" && m.status) bubble.appendChild(reportControls(m));
      box.appendChild(bubble);
    }
    box.scrollTop = box.scrollHeight;
  }
  // The provider's delivery report on an SMS the hotline sent: the page's player says whether it arrived.
  function reportControls(m) {
    const row = document.createElement("div");
    row.className = "row report";
    if (m.status !== "sent") {
      const done = document.createElement("small");
      done.textContent = words.sim_report + " · " + (words["sim_status_" + m.status] || m.status);
      row.appendChild(done);
      return row;
    }
    for (const outcome of ["delivered", "failed"]) {
      const button = document.createElement("button");
      button.className = "secondary";
      button.dataset.report = outcome;
      button.textContent = words["sim_" + outcome];
      button.addEventListener("click", async () => {
        try { await api("POST", "/simulator/api/report", { phone, id: m.id, status: outcome }); showError(null); }
        catch (e) { showError(e); }
        refresh();
      });
      row.appendChild(button);
    }
    return row;
  }
  async function refresh() {
    if (!phone) return;
    try {
      const state = await api("GET", "/simulator/api/phone?phone=" + encodeURIComponent(phone));
      showThread(state.thread);
      ringingSid = state.ringing.length && !call ? state.ringing[0].sid : null;
      if (voice) $("incoming").hidden = !ringingSid;
    } catch (e) { /* a moment offline: the next poll tries again */ }
  }
  $("compose").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = $("sms-body").value.trim();
    if (!phone || !body) return;
    try { await api("POST", "/simulator/api/sms", { phone, body }); $("sms-body").value = ""; showError(null); }
    catch (e) { showError(e); }
    refresh();
  });

  // ── calls ──────────────────────────────────────────────────────────────────────────────────────────────────
  function speak(said) {
    if (!$("speak").checked || !window.speechSynthesis) return;
    for (const s of said) {
      if (!s.text || s.text.startsWith("[play")) continue;
      const utterance = new SpeechSynthesisUtterance(s.text);
      utterance.lang = (s.language || "zh-CN").replace(/^cmn-/, "zh-");
      window.speechSynthesis.speak(utterance);
    }
  }
  function showCall(view) {
    call = view.ended ? null : view;
    const fresh = view.said.slice(shownSaid);
    for (const s of fresh) {
      const line = document.createElement("p");
      line.textContent = s.text;
      line.lang = s.language || "";
      $("said").appendChild(line);
    }
    shownSaid = view.said.length;
    speak(fresh);
    if (view.ended) {
      const end = document.createElement("p");
      end.className = "muted"; end.textContent = words.sim_ended;
      $("said").appendChild(end);
    }
    $("said").scrollTop = $("said").scrollHeight;
    $("gather").hidden = view.waiting !== "Gather" || view.ended;
    $("dialing").hidden = view.waiting !== "Dial" || view.ended;
    $("recording").hidden = view.waiting !== "Record" || view.ended;
    if (view.ringing) $("dialing-who").textContent = fill(words.sim_ringing, { name: view.ringing });
    if (view.record_seconds) $("record-button").textContent = fill(words.sim_record, { seconds: view.record_seconds });
    $("hangup").disabled = view.ended;
    $("dial").disabled = !view.ended;
  }
  async function act(url, body) {
    try { showCall(await api("POST", url, body)); showError(null); } catch (e) { showError(e); }
    refresh();
  }
  function newCall() { $("said").innerHTML = ""; shownSaid = 0; }
  if (voice) {
    $("dial").addEventListener("click", () => { if (phone) { newCall(); act("/simulator/api/call", { phone }); } });
    $("hangup").addEventListener("click", () => call && act(`/simulator/api/call/${call.sid}/move`, { move: "hang_up" }));
    document.querySelectorAll("[data-key]").forEach((b) => b.addEventListener("click", () =>
      call && act(`/simulator/api/call/${call.sid}/move`, { move: "press", digits: b.dataset.key })));
    document.querySelectorAll("[data-move]").forEach((b) => b.addEventListener("click", () =>
      call && act(`/simulator/api/call/${call.sid}/move`, { move: b.dataset.move, seconds: 10 })));
    document.querySelectorAll("[data-ring]").forEach((b) => b.addEventListener("click", () => {
      if (!ringingSid) return;
      newCall();
      act(`/simulator/api/ringing/${ringingSid}`, { phone, action: b.dataset.ring });
    }));
  }

  $("person").addEventListener("change", (e) => choose(Number(e.target.value)));
  $("switch").addEventListener("click", () => switchTo($("switch").dataset.phone));
  let searchTimer = null;
  $("search").addEventListener("input", () => { clearTimeout(searchTimer); searchTimer = setTimeout(loadPeople, 250); });
  loadPeople();
  setInterval(refresh, 1500);
})();

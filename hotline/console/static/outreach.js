// Calls and notices. Without this script every page still works (plain forms, a preview step, a reload).
// With it: a notice's figures update while it is written, a form is sent once, a notice's progress updates itself.
(function () {
  const token = document.querySelector('meta[name="csrf-token"]');

  // A form marked data-once is submitted once: a double click sends one request (the server dedupes anyway).
  document.querySelectorAll("form[data-once]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      const step = event.submitter && event.submitter.value;
      if (step === "preview") return;  // previewing again is harmless
      if (form.dataset.sending) { event.preventDefault(); return; }
      form.dataset.sending = "1";
    });
  });

  // The notice form: ask for a fresh preview shortly after each change.
  const form = document.getElementById("notice-form");
  const box = document.getElementById("notice-preview");
  if (form && box && token) {
    form.querySelectorAll(".js-only").forEach(function (el) { el.hidden = false; });
    let timer = null;
    let asked = 0;
    async function preview() {
      const data = new URLSearchParams(new FormData(form));
      if (!data.get("target")) return;
      const mine = ++asked;
      try {
        const response = await fetch("/notices/preview", {
          method: "POST", body: data, credentials: "same-origin",
          headers: { "X-CSRF-Token": token.content, "Accept": "application/json" },
        });
        const answer = await response.json();
        if (mine === asked && answer.html !== undefined) box.innerHTML = answer.html;
      } catch (e) { /* offline for a moment: the Preview button still works */ }
    }
    function later() { clearTimeout(timer); timer = setTimeout(preview, 400); }
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  // A notice's progress: fetch its part every 4 seconds (delivery reports keep coming after the last hand-over).
  const progress = document.getElementById("notice-progress");
  if (progress) {
    setInterval(async function () {
      try {
        const response = await fetch(progress.dataset.refresh, { credentials: "same-origin" });
        if (response.ok && !response.redirected) progress.innerHTML = await response.text();
      } catch (e) { /* offline for a moment: try again next time */ }
    }, 4000);
  }
})();

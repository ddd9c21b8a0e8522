// The register import: while the upload is read, checked and written, show how far it has come. Without this
// script the form still works; the page simply waits for the answer.
(function () {
  const form = document.querySelector("form.reg-upload");
  const box = document.getElementById("import-progress");
  if (!form || !box || !window.fetch || !window.crypto || !window.crypto.getRandomValues) return;
  const field = form.querySelector('input[name="progress"]');
  const bar = box.querySelector("progress");
  const words = document.getElementById("import-progress-words");
  form.addEventListener("submit", function () {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    const token = Array.from(bytes, function (b) { return b.toString(16).padStart(2, "0"); }).join("");
    field.value = token;
    box.hidden = false;
    async function poll() {
      try {
        const response = await fetch("/register/import/progress?token=" + token, {
          credentials: "same-origin", headers: { "Accept": "application/json" },
        });
        if (response.ok) {
          const found = await response.json();
          if (found.total) { bar.max = found.total; bar.value = found.done; }
          words.textContent = found.words;
        }
      } catch (e) { /* offline for a moment: ask again */ }
      setTimeout(poll, 500);
    }
    setTimeout(poll, 300);
  });
})();

// The board updates itself: every 5 seconds it fetches its inner part and swaps it in. No page reload.
// It can be paused (the button above it; a screen reader's user or someone reading a long list needs it still),
// and a swap keeps the keyboard's place: the element that had focus is found again in the new part and focused.
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  const toggle = document.getElementById("board-refresh");
  const note = document.getElementById("board-refresh-note");
  let paused = false;
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      paused = !paused;
      toggle.setAttribute("aria-pressed", String(paused));
      toggle.textContent = paused ? toggle.dataset.resume : toggle.dataset.pause;
      if (note) note.textContent = paused ? toggle.dataset.pausedNote : "";
      if (!paused) refresh();
    });
  }
  // How to find the focused element again: its id, else its link or its form control's name and value.
  function whereFocus() {
    const el = document.activeElement;
    if (!el || el === document.body || !board.contains(el)) return null;
    if (el.id) return "#" + CSS.escape(el.id);
    const tag = el.tagName.toLowerCase();
    if (el.getAttribute("href")) return tag + '[href="' + CSS.escape(el.getAttribute("href")) + '"]';
    if (el.name) return tag + '[name="' + CSS.escape(el.name) + '"]';
    return null;
  }
  async function refresh() {
    if (paused) return;
    try {
      const response = await fetch(board.dataset.refresh, { credentials: "same-origin" });
      if (!response.ok || response.redirected || paused) return;
      const html = await response.text();
      const focused = whereFocus();
      board.innerHTML = html;
      const again = focused && board.querySelector(focused);
      if (again) again.focus({ preventScroll: true });
    } catch (e) { /* offline for a moment: try again next time */ }
  }
  setInterval(refresh, 5000);
})();

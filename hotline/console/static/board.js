// The board updates itself: every 5 seconds it fetches its inner part and swaps it in. No page reload.
(function () {
  const board = document.getElementById("board");
  if (!board) return;
  async function refresh() {
    try {
      const response = await fetch(board.dataset.refresh, { credentials: "same-origin" });
      if (response.ok && !response.redirected) board.innerHTML = await response.text();
    } catch (e) { /* offline for a moment: try again next time */ }
  }
  setInterval(refresh, 5000);
})();

// A voicemail that will not play (gone, or the provider not answering) says so in words beside its player.
(function () {
  for (const audio of document.querySelectorAll("audio[data-voicemail]")) {
    audio.addEventListener("error", function () {
      const note = audio.parentElement.querySelector("[data-voicemail-error]");
      if (note) note.hidden = false;
    });
  }
})();

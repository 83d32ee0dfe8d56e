// Refreshes the live part of a board page in place: the server renders (and escapes) the
// HTML, this only fetches it again with the page's own filters and swaps it in.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live) { return; }
  var every = Math.max(0.5, Number(live.dataset.every) || 2) * 1000;
  var busy = false;
  function tick() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch(live.dataset.refresh + window.location.search, { credentials: "same-origin" })
      .then(function (resp) {
        if (!resp.ok) { throw new Error("the board answered " + resp.status); }
        return resp.text();
      })
      .then(function (html) {
        live.innerHTML = html;
        live.classList.remove("stale");
        live.dataset.refreshed = String(Date.now());
      })
      .catch(function (err) {
        live.classList.add("stale");
        live.title = String(err);
      })
      .finally(function () { busy = false; });
  }
  window.setInterval(tick, every);
})();

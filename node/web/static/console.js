// casebridge console: the one script. Keeps an open alert inbox current without a reload.
// The server sends an "alerts" event whenever a new alert is stored; the inbox then fetches its rows
// again (same filters) and says so in a polite live region, for screen readers too. Without this script
// every page still works: the inbox shows new alerts on the next load.
"use strict";
(function () {
  var rows = document.getElementById("alert-rows");
  if (!rows || !window.EventSource) { return; }
  var live = document.getElementById("live");
  var newest = Number(rows.dataset.newest || "0");
  var source = new EventSource("/events");
  function refresh(latest) {
    fetch(rows.dataset.rows, { credentials: "same-origin", headers: { "accept": "text/html" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("status " + response.status); }
        var unread = response.headers.get("x-unread");
        return response.text().then(function (html) { return { html: html, unread: unread }; });
      })
      .then(function (result) {
        rows.innerHTML = result.html;
        var arrived = latest > newest;
        newest = Math.max(newest, latest);
        rows.dataset.newest = String(newest);
        if (live && arrived) {
          live.textContent = "New alerts arrived" + (result.unread ? " (" + result.unread + " unread)" : "") + ".";
        }
      })
      .catch(function () {
        if (live) { live.textContent = "New alerts arrived; reload the page to see them."; }
      });
  }
  source.addEventListener("alerts", function (event) { refresh(Number(event.data)); });
  source.addEventListener("hello", function (event) {
    var latest = Number(event.data);
    if (latest > newest) { refresh(latest); }  // arrived between the page load and the stream opening
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();

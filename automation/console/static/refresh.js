// 現在の報告: reload every minute while the tab is visible, so a new 第N報 appears by itself.
// The page works without it; it is the console's only script (CSP: script-src 'self').
(function () {
  "use strict";
  var seconds = Number(document.body.getAttribute("data-refresh-seconds") || "60");
  setInterval(function () {
    if (document.visibilityState === "visible") { window.location.reload(); }
  }, seconds * 1000);
})();

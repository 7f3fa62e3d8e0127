// scimd console: progressive enhancement only. Every page works without this file; it adds
// a Copy button beside values to paste elsewhere (a new token, the Tenant URL, a key), and
// announces the outcome in the polite live region next to it.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentElement.querySelector(".copied");
    if (!field) return;
    var label = button.textContent;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function (ok) {
        if (status) status.textContent = ok ? "Copied." : "Copy failed: select the value and copy it.";
        button.textContent = ok ? "Copied" : label;
        button.setAttribute("data-copied", ok ? "yes" : "no");
      };
      var fallback = function () {
        field.select();
        var ok = false;
        try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
        done(ok);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); }, fallback);
      } else {
        fallback();
      }
    });
  });
});

// scimd console: progressive enhancement only. Every page works without this file; it adds
// the Copy button next to a new token's secret (navigator.clipboard, with a fallback).
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    var status = button.parentElement.querySelector(".copied");
    if (!field) return;
    button.hidden = false;
    button.addEventListener("click", function () {
      var done = function (ok) {
        if (status) status.textContent = ok ? "Copied." : "Copy failed: select the token and copy it.";
        if (ok) button.textContent = "Copied";
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(field.value).then(function () { done(true); }, function () {
          field.select();
          done(document.execCommand("copy"));
        });
      } else {
        field.select();
        done(document.execCommand("copy"));
      }
    });
  });
});

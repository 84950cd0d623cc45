/* nurture dashboard, Apache-2.0. Progressive enhancement only: every page works without it. */
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  // A version picked from the selector shows that version at once.
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    select.addEventListener("change", function () {
      if (select.form) {
        select.form.requestSubmit();
      }
    });
  });
  // Once an action is confirmed and sent, a second click must not send it again.
  document.querySelectorAll("form.action").forEach(function (form) {
    form.addEventListener("submit", function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
      });
    });
  });
});

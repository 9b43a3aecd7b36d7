// Small progressive enhancements; every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("select[data-autosubmit]")) {
      target.form.submit();
    }
    if (target.matches("select[data-calling-code-target]")) {
      var option = target.options[target.selectedIndex];
      var hint = document.getElementById("f-phone-hint");
      var code = option ? option.getAttribute("data-calling-code") : "";
      if (hint) {
        var base = hint.getAttribute("data-base") || hint.textContent.split(":")[0];
        hint.setAttribute("data-base", base);
        hint.textContent = code ? base + ": +" + code : base;
      }
    }
  });
  // A dropped file lands in the input of the drop zone's form.
  document.addEventListener("dragover", function (event) {
    if (event.target.closest && event.target.closest(".upload")) { event.preventDefault(); }
  });
  document.addEventListener("drop", function (event) {
    var form = event.target.closest && event.target.closest(".upload");
    if (!form || !event.dataTransfer || !event.dataTransfer.files.length) { return; }
    event.preventDefault();
    var input = form.querySelector("input[type=file]");
    input.files = event.dataTransfer.files;
  });
  // The first field with an error takes the focus after a refused form.
  document.addEventListener("DOMContentLoaded", function () {
    var invalid = document.querySelector("[aria-invalid=true]");
    if (invalid) { invalid.focus(); }
  });
})();
// After htmx swaps in the answer to a form sent (POST), or the page a done form leads
// to (HX-Location swaps the body), the first field with an error takes the focus, else
// the answer's alert or notice does (so that it is read out).
document.addEventListener("htmx:afterSettle", function (event) {
  var config = event.detail && event.detail.requestConfig;
  if (!config || (config.verb !== "post" && event.detail.elt !== document.body)) { return; }
  var main = document.getElementById("main");
  var invalid = main && main.querySelector("[aria-invalid=true]");
  if (invalid) { invalid.focus(); return; }
  var notice = main && main.querySelector("[role=alert], [role=status]");
  if (notice) { notice.setAttribute("tabindex", "-1"); notice.focus(); }
});

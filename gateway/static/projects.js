// The Projects screens' enhancements; every form works without this file.
(function () {
  "use strict";
  if (window.clientfolioProjects) { return; }
  window.clientfolioProjects = true;

  function countChecked() {
    var out = document.getElementById("checked-count");
    if (!out) { return; }
    var boxes = document.querySelectorAll("input[name=project_ids]");
    var checked = document.querySelectorAll("input[name=project_ids]:checked").length;
    var all = document.querySelector("[data-check-all]");
    if (all) {
      all.checked = boxes.length > 0 && checked === boxes.length;
      all.indeterminate = checked > 0 && checked < boxes.length;
    }
    out.textContent = checked ? (out.getAttribute("data-label") || "") + " " + checked : "";
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-check-all]")) {
      document.querySelectorAll("input[name=project_ids]").forEach(function (box) {
        box.checked = target.checked;
      });
    }
    if (target.matches("[data-check-all], input[name=project_ids]")) { countChecked(); }
  });

  // Enter in a picker's search searches at once instead of sending the whole form.
  document.addEventListener("keydown", function (event) {
    if (event.key === "Enter" && event.target.matches("[data-picker-search]")) {
      event.preventDefault();
      if (window.htmx) { window.htmx.trigger(event.target, "search"); }
    }
  });

  // After htmx answers an action, the answer takes the focus (keyboard and screen readers).
  document.addEventListener("htmx:afterSettle", function (event) {
    // The bulk answer is read below the Actions menu: the menu closes.
    var target = event.detail && event.detail.target;
    if (target && target.id === "assign-result") {
      var menu = document.querySelector("details.actions-menu");
      if (menu) { menu.open = false; }
    }
    var focus = document.querySelector("[data-autofocus]");
    if (focus) {
      focus.removeAttribute("data-autofocus");
      focus.focus();
    }
    countChecked();
  });
  document.addEventListener("DOMContentLoaded", countChecked);
})();

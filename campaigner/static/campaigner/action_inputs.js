// A disposition action's inline form shows only the inputs of its kind (and, for a
// retry_limit, of its "then" action): campaigner/admin.py ACTION_INPUTS.
"use strict";
(function () {
  var INPUTS = {
    close: [], callback: ["minutes"], set_priority: ["priority"], dnc: ["numbers"],
    copy_lead: ["target"], webhook: ["url", "secret"], email: ["to", "subject", "body"],
    retry_limit: ["count", "then_kind"]
  };
  var ALL = ["minutes", "priority", "numbers", "target", "url", "secret", "to", "subject",
             "body", "count", "then_kind"];

  function update(form) {
    var kind = form.querySelector("select[name$='-kind']:not([name$='-then_kind'])");
    if (!kind) { return; }
    var shown = (INPUTS[kind.value] || []).slice();
    if (kind.value === "retry_limit") {
      var then = form.querySelector("select[name$='-then_kind']");
      shown = shown.concat(INPUTS[then && then.value] || []);
    }
    ALL.forEach(function (name) {
      var row = form.querySelector(".field-" + name);
      if (row) { row.hidden = shown.indexOf(name) < 0; }
    });
  }

  function watch(form) {
    form.addEventListener("change", function () { update(form); });
    update(form);
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll(".inline-related").forEach(watch);
  });
  document.addEventListener("formset:added", function (event) { watch(event.target); });
})();

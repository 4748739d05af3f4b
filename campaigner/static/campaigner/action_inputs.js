// A disposition action's inline form shows only the inputs of its kind (and, for a
// retry_limit, of its "then" action): campaigner/admin.py ACTION_INPUTS. On a disposition's
// page the actions are the page's inlines; on a disposition set's page they are nested under
// each disposition, so each action form is the innermost .inline-related around its kind.
"use strict";
(function () {
  var INPUTS = {
    close: [], callback: ["minutes"], set_priority: ["priority"], dnc: ["numbers"],
    copy_lead: ["target"], webhook: ["url", "secret"], email: ["to", "subject", "body"],
    retry_limit: ["count", "then_kind"]
  };
  var ALL = ["minutes", "priority", "numbers", "target", "url", "secret", "to", "subject",
             "body", "count", "then_kind"];
  var KIND = "select[name$='-kind']:not([name$='-then_kind'])";

  function update(kind) {
    var form = kind.closest(".inline-related");
    if (!form) { return; }
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

  function updateAll() {
    document.querySelectorAll(KIND).forEach(update);
  }

  document.addEventListener("change", function (event) {
    var form = event.target.closest && event.target.closest(".inline-related");
    var kind = form && form.querySelector(KIND);
    if (kind && kind.closest(".inline-related") === form) { update(kind); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    updateAll();
    // A form added ("Add another …"), by Django's inlines or the nested ones.
    var pending = false;
    new MutationObserver(function () {
      if (!pending) {
        pending = true;
        window.requestAnimationFrame(function () { pending = false; updateAll(); });
      }
    }).observe(document.body, { childList: true, subtree: true });
  });
})();

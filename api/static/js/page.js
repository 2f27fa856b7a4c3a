// Every page: a form that came back with a problem moves focus to its error summary (GOV.UK
// error summary), and each link there takes the person to the field, its label in view.
(function () {
  "use strict";
  // A form that must be sent once (an export): its button is disabled once it is sent.
  Array.prototype.forEach.call(document.querySelectorAll("form[data-once]"), function (form) {
    form.addEventListener("submit", function () {
      var button = form.querySelector("button"); if (button) { button.disabled = true; button.setAttribute("aria-disabled", "true"); }
    });
  });
  var summary = document.querySelector(".govuk-error-summary");
  if (!summary) return;
  summary.focus();
  summary.addEventListener("click", function (ev) {
    var link = ev.target.closest("a[href^='#']");
    if (!link) return;
    var field = document.getElementById(link.getAttribute("href").slice(1));
    if (!field) return;
    ev.preventDefault();
    var legend = field.closest("fieldset") && field.closest("fieldset").querySelector("legend");
    var label = legend || document.querySelector("label[for='" + field.id + "']") || field;
    label.scrollIntoView();
    field.focus({preventScroll: true});
  });
})();

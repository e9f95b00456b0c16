// Small behaviours of the portal pages, kept out of the templates so that the
// Content-Security-Policy can refuse every inline script and event handler.
document.addEventListener("click", function (event) {
  var target = event.target;
  if (target instanceof HTMLInputElement && target.hasAttribute("data-select-on-click")) {
    target.select();
  }
});

// The what-if preview follows typing in the number fields. An htmx trigger filter
// (input[target.type=='number']) would need eval, which the CSP refuses: the form gets
// a "number-input" event instead, which the preview panel's hx-trigger listens for.
document.addEventListener("input", function (event) {
  var target = event.target;
  if (target instanceof HTMLInputElement && target.type === "number" && target.form) {
    target.form.dispatchEvent(new CustomEvent("number-input", { bubbles: true }));
  }
});

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

// "Copy" beside a code block: the clipboard API where the page is a secure context
// (https or localhost), else the text is selected for the user's own copy.
document.addEventListener("click", function (event) {
  var button = event.target;
  if (!(button instanceof HTMLElement) || !button.hasAttribute("data-copy-from")) return;
  var id = button.getAttribute("data-copy-from");
  var code = document.getElementById(id);
  if (!code) return;
  var done = document.querySelector('[data-copy-done="' + id + '"]');
  var selectIt = function () {
    var range = document.createRange();
    range.selectNodeContents(code);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(code.textContent).then(function () {
      if (done) done.hidden = false;
    }, selectIt);
  } else {
    selectIt();
  }
});

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

// "Stream" in a model's Try it form: post the form to the button's data-stream-url and
// show the model's text growing as each chunk arrives (one JSON line per chunk: {text},
// then {done} or {error}). Text is set with textContent: nothing the model writes is
// read as markup.
document.addEventListener("click", function (event) {
  var button = event.target;
  if (!(button instanceof HTMLButtonElement) || !button.hasAttribute("data-stream-url")) return;
  var form = button.form;
  var box = document.getElementById(button.getAttribute("data-stream-into"));
  if (!form || !box || !window.fetch || !window.TextDecoder) return;
  event.preventDefault();
  box.textContent = "";
  var panel = document.createElement("div");
  panel.className = "stream-result";
  var text = document.createElement("p");
  text.className = "stream-text";
  text.setAttribute("data-streaming", "1");
  var meta = document.createElement("p");
  meta.className = "muted small stream-meta";
  meta.textContent = "Streaming…";
  panel.appendChild(text);
  panel.appendChild(meta);
  box.appendChild(panel);
  button.disabled = true;
  var show = function (item) {
    if (item.text !== undefined) {
      text.textContent += item.text;
    } else if (item.error !== undefined) {
      var error = document.createElement("p");
      error.className = "error-text";
      error.textContent = item.error + (item.details ? ": " + item.details : "");
      panel.appendChild(error);
      meta.textContent = "";
    } else if (item.done) {
      meta.textContent = "Done · deployment " + item.deployment + " · " + item.ms + " ms";
    }
  };
  fetch(button.getAttribute("data-stream-url"), {
    method: "POST",
    body: new FormData(form),
    credentials: "same-origin",
    headers: { "X-Requested-With": "fetch" },
  }).then(function (response) {
    var reader = response.body.getReader();
    var decoder = new TextDecoder();
    var pending = "";
    var pump = function () {
      return reader.read().then(function (part) {
        pending += decoder.decode(part.value || new Uint8Array(), { stream: !part.done });
        var lines = pending.split("\n");
        pending = part.done ? "" : lines.pop();
        lines.forEach(function (line) {
          if (line.trim()) show(JSON.parse(line));
        });
        if (!part.done) return pump();
      });
    };
    if (!response.ok) throw new Error("the server answered " + response.status);
    return pump();
  }).catch(function (error) {
    show({ error: "Streaming failed", details: String(error.message || error) });
  }).then(function () {
    text.removeAttribute("data-streaming");
    button.disabled = false;
  });
});

// Try it for image models: an image dropped on the drop zone becomes the file field's
// file, and the chosen image is previewed (a data: URL, which the CSP allows for images).
var showPreview = function (input) {
  var preview = document.querySelector('[data-preview-of="' + input.id + '"]');
  if (!preview) return;
  var file = input.files && input.files[0];
  if (!file || !window.FileReader) {
    preview.hidden = true;
    preview.removeAttribute("src");
    return;
  }
  var reader = new FileReader();
  reader.onload = function () {
    preview.src = reader.result;
    preview.hidden = false;
  };
  reader.readAsDataURL(file);
};

document.addEventListener("change", function (event) {
  var input = event.target;
  if (input instanceof HTMLInputElement && input.type === "file") showPreview(input);
});

var dropzoneOf = function (event) {
  var target = event.target;
  var zone = target instanceof Element ? target.closest("[data-dropzone-for]") : null;
  return zone && event.dataTransfer ? zone : null;
};

["dragenter", "dragover"].forEach(function (name) {
  document.addEventListener(name, function (event) {
    var zone = dropzoneOf(event);
    if (!zone) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    zone.classList.add("dragging");
  });
});

document.addEventListener("dragleave", function (event) {
  var zone = dropzoneOf(event);
  if (zone && !zone.contains(event.relatedTarget)) zone.classList.remove("dragging");
});

document.addEventListener("drop", function (event) {
  var zone = dropzoneOf(event);
  if (!zone) return;
  event.preventDefault();
  zone.classList.remove("dragging");
  var input = document.getElementById(zone.getAttribute("data-dropzone-for"));
  var files = event.dataTransfer.files;
  if (!input || !files || !files.length) return;
  var chosen = new DataTransfer();
  chosen.items.add(files[0]);
  input.files = chosen.files;
  input.dispatchEvent(new Event("change", { bubbles: true }));
});

// The nodepool form's swarm settings (manager URL, node labels) are shown only while the
// Docker Swarm runtime is chosen. Without JavaScript they are simply always shown.
var showRuntimeFields = function (form) {
  var chosen = form.querySelector('input[name="runtime"]:checked');
  if (!chosen) return;
  form.querySelectorAll("[data-runtime-only]").forEach(function (block) {
    block.hidden = block.getAttribute("data-runtime-only") !== chosen.value;
  });
};

document.addEventListener("change", function (event) {
  var input = event.target;
  if (input instanceof HTMLInputElement && input.name === "runtime" && input.form) {
    showRuntimeFields(input.form);
  }
});

document.querySelectorAll("form").forEach(function (form) {
  if (form.querySelector("[data-runtime-only]")) showRuntimeFields(form);
});

// The header's space switcher: choosing a space switches at once (the button is for no-JS).
document.addEventListener("change", function (event) {
  const target = event.target;
  if (target instanceof HTMLSelectElement && target.hasAttribute("data-submit-on-change")) {
    target.form.requestSubmit();
  }
});
document.querySelectorAll("[data-hide-with-js]").forEach(function (element) {
  element.hidden = true;
});

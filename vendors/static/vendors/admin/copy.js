// Copy buttons on the one-time secret page: the Clipboard API where the page is a secure context, a selection copy
// elsewhere. A static file, not an inline script, so that the Content-Security-Policy can forbid inline scripts.
document.querySelectorAll(".charp-copy").forEach(function (button) {
  button.addEventListener("click", function () {
    var source = document.getElementById(button.dataset.copy);
    var done = function () {
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = "Copy"; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(source.textContent).then(done);
      return;
    }
    var range = document.createRange();
    range.selectNodeContents(source);
    window.getSelection().removeAllRanges();
    window.getSelection().addRange(range);
    document.execCommand("copy");
    done();
  });
});

// The page with a secret is shown once. A browser that restores it from its back/forward cache (memory, no request)
// would show the secret again: asked again instead, the server answers that it was already shown.
window.addEventListener("pageshow", function (event) {
  if (event.persisted) {
    document.querySelectorAll("#client-secret").forEach(function (code) { code.textContent = ""; });
    window.location.reload();
  }
});

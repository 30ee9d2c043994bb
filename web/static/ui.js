// Sends the session's CSRF token with every htmx request (Flask-WTF reads the X-CSRFToken header).
// A file, not an inline script: the Content-Security-Policy allows scripts from this site only.
document.addEventListener("htmx:configRequest", function (event) {
  var meta = document.querySelector('meta[name="csrf-token"]');
  if (meta) { event.detail.headers["X-CSRFToken"] = meta.content; }
});

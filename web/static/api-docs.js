// Starts Swagger UI on /api/docs. A file, not an inline script, so the page keeps the strict CSP (web/security.py).
// The spec URL comes from the page; validatorUrl null keeps the browser from asking another origin to badge it.
(function () {
  "use strict";

  function start() {
    var root = document.getElementById("swagger-ui");
    if (!root || typeof window.SwaggerUIBundle !== "function") {
      return;
    }
    window.SwaggerUIBundle({
      url: root.getAttribute("data-spec-url"),
      domNode: root,
      deepLinking: true,
      presets: [window.SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      validatorUrl: null,
      defaultModelsExpandDepth: 0,
      docExpansion: "list",
      tryItOutEnabled: false,
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();

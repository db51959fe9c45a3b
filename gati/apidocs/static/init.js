// Gati's docs page: Swagger UI over this app's own /openapi.json (same version as the page's ?version=).
(function () {
  var version = new URLSearchParams(window.location.search).get("version");
  var url = "openapi.json" + (version ? "?version=" + encodeURIComponent(version) : "");
  window.ui = SwaggerUIBundle({ url: url, dom_id: "#swagger-ui", deepLinking: true });
})();

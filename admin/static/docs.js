// Starts Swagger UI on /docs from files served by this app (no CDN; CSP allows no inline script).
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({ url: "/openapi.json", dom_id: "#swagger-ui", deepLinking: true });
});

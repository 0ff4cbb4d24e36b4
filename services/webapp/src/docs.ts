import { createRequire } from 'node:module';
import path from 'node:path';
import express, { Router } from 'express';
import { openApiDocument } from './openapi.js';

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

const PAGE = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>mlpl webapp API</title>
  <link rel="stylesheet" href="/docs/assets/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="/docs/assets/swagger-ui-bundle.js"></script>
  <script src="/docs/init.js"></script>
</body>
</html>`;

// Kept out of the page so a Content-Security-Policy without inline scripts still works.
const INIT = `window.ui = SwaggerUIBundle({ url: '/docs/openapi.json', dom_id: '#swagger-ui', deepLinking: true });`;

/** `/docs`: the OpenAPI document and Swagger UI, served from the installed swagger-ui-dist. */
export function docsRouter(): Router {
  const router = Router();
  router.get('/docs/openapi.json', (_req, res) => {
    res.json(openApiDocument);
  });
  router.get('/docs/init.js', (_req, res) => {
    res.type('text/javascript').send(INIT);
  });
  router.use('/docs/assets', express.static(swaggerUiDir, { index: false }));
  router.get('/docs', (_req, res) => {
    res.type('html').send(PAGE);
  });
  return router;
}

/**
 * What the three services answer to a request no route took: 405 with `Allow` when routes serve
 * its path with other methods, 404 when none serves the path. The methods are read from express
 * 5's own router, so a route added anywhere is covered without a list to keep in step.
 *
 * Typed by structure, not by express's types (which do not describe this part), so this package
 * needs no express; each service's app test holds it to the installed `router` (2.3).
 */
import { HttpError } from './http-error.js';

/** The parts of a router layer read here (`router/lib/layer.js`, `router/lib/route.js`). */
type Layer = {
  match(path: string): false | { path: string };
  route?: { methods: Record<string, boolean | undefined> };
  handle: unknown;
};

type RouterLike = { stack: unknown[] };

function isRouter(handle: unknown): handle is { stack: Layer[] } {
  return typeof handle === 'function' && Array.isArray((handle as Partial<RouterLike>).stack);
}

function collectMethods(stack: readonly Layer[], path: string, methods: Set<string>): void {
  for (const layer of stack) {
    const match = layer.match(path);
    if (match === false) continue;
    if (layer.route !== undefined) {
      // `_all` marks a route.all() handler: it takes every method, so it never sends a request here.
      for (const method of Object.keys(layer.route.methods)) if (method !== '_all') methods.add(method.toUpperCase());
    } else if (isRouter(layer.handle)) {
      // A mounted router sees the path without its mount point, as when it routes the request.
      const rest = path.slice(match.path.length);
      if (rest === '' || rest.startsWith('/')) collectMethods(layer.handle.stack, rest === '' ? '/' : rest, methods);
    }
  }
}

/** The methods the routes of `router` (an express app's `app.router`) take at `path`, sorted; none for an unknown path. */
export function allowedMethods(router: RouterLike, path: string): string[] {
  const methods = new Set<string>();
  collectMethods(router.stack as Layer[], path, methods);
  // Express answers HEAD with the GET route.
  if (methods.has('GET')) methods.add('HEAD');
  return [...methods].sort();
}

/** "GET or HEAD", "GET, HEAD, or POST". */
const EITHER = new Intl.ListFormat('en', { type: 'disjunction' });

type FallbackRequest = { method: string; path: string };
type FallbackResponse = { setHeader(name: string, value: string): unknown; status(code: number): { end(): unknown } };

/**
 * The last handler of an app, after every route: throws a 404 for a path no route serves, and a
 * 405 naming the methods to use (also in `Allow`) for a method the path's routes do not take.
 * OPTIONS is answered 200 with `Allow`, as express's routers answer it for their own paths.
 */
export function routeFallback(router: RouterLike): (req: FallbackRequest, res: FallbackResponse) => void {
  return (req, res) => {
    const allowed = allowedMethods(router, req.path);
    if (allowed.length === 0) throw new HttpError(404, 'not_found', `no route for ${req.method} ${req.path}`);
    res.setHeader('Allow', allowed.join(', '));
    if (req.method === 'OPTIONS') {
      res.status(200).end();
      return;
    }
    throw new HttpError(405, 'method_not_allowed', `${req.method} is not allowed on ${req.path}; use ${EITHER.format(allowed)}`);
  };
}

// DOM helpers both pages use.

export const $ = (id) => document.getElementById(id);

/**
 * An HTML element. `attrs` keys starting with "on" add listeners; false/null/undefined values are left out.
 * `style` is set through the CSSOM: the Content-Security-Policy (style-src 'self') refuses style attributes.
 */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') node.addEventListener(name.slice(2), value);
    else if (name === 'text') node.textContent = String(value);
    else if (name === 'style') node.style.cssText = String(value);
    else node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const child of children.flat()) if (child !== null && child !== undefined && child !== false) node.append(child);
  return node;
}

/** Shows `message` in a status line; `kind` ('info', 'ok', 'error', 'busy') is the style hook, empty with the message. */
export function setStatus(element, message, kind = 'info') {
  element.textContent = message;
  element.dataset.kind = message === '' ? '' : kind;
}

/** Scrolls `element` to the top of the view, smoothly unless the person asked for reduced motion. */
export function scrollToTop(element) {
  const smooth = !window.matchMedia('(prefers-reduced-motion: reduce)').matches;
  element.scrollIntoView({ block: 'start', behavior: smooth ? 'smooth' : 'auto' });
}

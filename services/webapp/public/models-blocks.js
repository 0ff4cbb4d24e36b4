// Building blocks the registry page's sections share: charts drawn at their shown width,
// legends, the numbers behind a chart, fact lists, cards and state badges.

import { h } from './dom.js';
import { state } from './models-state.js';

const drawers = new WeakMap();
const resizes = new ResizeObserver((entries) => {
  for (const entry of entries) redraw(entry.target);
});

/** A block whose content is `draw(width)`, redrawn whenever its width changes. */
export function chartBox(draw, className = 'chart-box') {
  const box = h('div', { class: className });
  drawers.set(box, draw);
  resizes.observe(box);
  return box;
}

function redraw(box) {
  if (!box.isConnected) {
    resizes.unobserve(box);
    return;
  }
  const width = Math.floor(box.clientWidth);
  if (width === 0 || box.dataset.drawnAt === String(width)) return;
  box.dataset.drawnAt = String(width);
  box.replaceChildren(drawers.get(box)(width));
}

/** A legend of line or square swatches, as a list a screen reader can read. */
export function legend(items, label) {
  return h('ul', { class: 'legend', 'aria-label': label },
    items.map(({ name, colour, dash, square }) => h('li', {},
      h('span', {
        class: square ? 'swatch square' : dash ? 'swatch dashed' : 'swatch',
        style: square ? `background:${colour}` : `border-top-color:${colour}`,
        'aria-hidden': 'true',
      }),
      name)));
}

/** A <details> holding the numbers behind a chart, as a table. */
export function dataTable(summary, head, rows) {
  return h('details', { class: 'data-table' },
    h('summary', { text: summary }),
    h('div', { class: 'table-scroll' },
      h('table', {},
        h('thead', {}, h('tr', {}, head.map((cell) => h('th', { scope: 'col', text: cell })))),
        h('tbody', {}, rows.map((row) => h('tr', {}, row.map((cell, i) => (i === 0 ? h('th', { scope: 'row', text: cell }) : h('td', { text: cell })))))))));
}

/** A plain table with a caption. */
export function numbersTable(caption, head, rows, attrs = {}) {
  return h('div', { class: 'table-scroll' },
    h('table', { class: 'checks', ...attrs },
      h('caption', { text: caption }),
      h('thead', {}, h('tr', {}, head.map((name) => h('th', { scope: 'col', text: name })))),
      h('tbody', {}, rows)));
}

/** A definition list of [term, value, wide?]; wide entries take a whole line. */
export function facts(pairs) {
  return h('dl', { class: 'facts' }, pairs.filter(Boolean).map(([term, value, wide]) => h('div', { class: wide ? 'wide' : undefined }, h('dt', { text: term }), h('dd', {}, value))));
}

/** A card of the detail panel. */
export function section(title, content, { wide = false } = {}) {
  return h('section', { class: wide ? 'card wide' : 'card', 'aria-label': title }, h('h3', { text: title }), ...content);
}

export function stateBadge(model) {
  const serving = model.state === 'serving';
  return h('span', { class: `badge state-${model.state}${serving ? ' serving' : ''}`, 'data-state': model.state, text: serving ? 'in service' : model.state });
}

/** The badge beside a version's name in a heading: "in service" for the one serving now, else its state. */
export function headingBadge(model) {
  return model.version === state.list.serving ? h('span', { class: 'badge serving', text: 'in service' }) : stateBadge(model);
}

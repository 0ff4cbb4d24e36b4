// Recent feedback as thumbnails, filtered by kind (corrections, confirmations, labels sent
// without a prediction), with how many there are of each kind.

import { api } from './api.js';
import { $, h } from './dom.js';
import { count, when } from './format.js';

const CORRECTIONS_LIMIT = 24;

/** How each kind of feedback is told, in the filter and on each thumbnail. */
const FEEDBACK_KINDS = {
  correction: { badge: 'correction', none: 'No corrections yet: people have not said the model was wrong.' },
  confirmation: { badge: 'confirmation', none: 'No confirmations yet: people have not said the model was right.' },
  unlinked: { badge: 'no prediction', none: 'No feedback without a prediction yet.' },
};

function feedbackCaption(c) {
  if (c.kind === 'unlinked') return h('span', { class: 'said' }, 'person said ', h('strong', { text: String(c.label) }), ' (sent without a prediction)');
  if (c.kind === 'confirmation') return h('span', { class: 'said' }, `model said ${c.predictedDigit}, person agreed`);
  return h('span', { class: 'said' }, `model said ${c.predictedDigit} → person said `, h('strong', { text: String(c.label) }));
}

let correctionsRequest = 0;
export async function loadCorrections() {
  const container = $('corrections');
  const kind = document.querySelector('input[name="feedback-kind"]:checked')?.value ?? 'all';
  const request = ++correctionsRequest;
  container.setAttribute('aria-busy', 'true');
  try {
    const { corrections, counts } = await api(`/api/corrections?limit=${CORRECTIONS_LIMIT}&kind=${encodeURIComponent(kind)}`);
    if (request !== correctionsRequest) return;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    for (const node of document.querySelectorAll('[data-feedback-count]')) {
      const n = node.dataset.feedbackCount === 'all' ? total : counts[node.dataset.feedbackCount];
      // A no-break space: each label is a flex box, which drops a plain leading space.
      node.textContent = Number.isFinite(n) ? `\u00a0(${count(n)})` : '';
    }
    if (corrections.length === 0) {
      container.replaceChildren(h('p', { class: 'empty', text: kind === 'all' ? 'No feedback yet.' : FEEDBACK_KINDS[kind]?.none ?? 'None.' }));
      return;
    }
    container.replaceChildren(h('ul', { class: 'corrections-grid' }, corrections.map((c) => {
      const image = h('img', { src: c.imageUrl, alt: `the digit as drawn, labelled ${c.label}`, width: 96, height: 96, decoding: 'async' });
      image.addEventListener('error', () => image.replaceWith(h('span', { class: 'no-image', text: 'image unavailable' })), { once: true });
      return h('li', { 'data-correction-id': c.id, 'data-kind': c.kind, class: c.kind === 'correction' ? 'corrected' : c.kind === 'confirmation' ? 'agreed' : undefined },
        h('figure', {},
          image,
          h('figcaption', {},
            h('span', { class: `badge kind-${c.kind}`, text: FEEDBACK_KINDS[c.kind]?.badge ?? c.kind }),
            feedbackCaption(c),
            h('span', { class: 'muted' }, c.modelVersion ?? 'no model version'),
            h('span', { class: 'muted' }, when(c.createdAt, { short: true })))));
    })));
  } catch (error) {
    if (request !== correctionsRequest) return;
    container.replaceChildren(h('p', { class: 'error', text: `Could not load the feedback: ${error.message}.` }));
  } finally {
    if (request === correctionsRequest) container.setAttribute('aria-busy', 'false');
  }
}

// The model registry page (/models): every version with its lineage, training, evaluation, gate
// verdict and live error rate; every training run, those that made no version included; two
// versions side by side; recent feedback (corrections, confirmations), filtered by kind; and
// rollback. This module loads the registry and wires the controls; each section is a module of
// its own (models-*.js).
// Reads the JSON described by src/registry-types.ts. Plain ES modules, no build step.

import { api } from './api.js';
import { $, setStatus } from './dom.js';
import { fillCompareSelects, renderCompare } from './models-compare.js';
import { renderNoDetail, select } from './models-detail.js';
import { loadSeries } from './models-error-rate.js';
import { loadCorrections } from './models-feedback.js';
import { rollback, setUpAdminToken } from './models-rollback.js';
import { loadRuns } from './models-runs.js';
import { state } from './models-state.js';
import { renderHeader, renderVersions } from './models-versions.js';

/** Loads the list of versions and redraws every section from it. */
async function loadAll() {
  const loadStatus = $('load-status');
  state.details.clear();
  try {
    state.list = await api('/api/models');
  } catch (error) {
    setStatus(loadStatus, `Could not load the registry: ${error.message}. Press Refresh to try again.`, 'error');
    return;
  }
  setStatus(loadStatus, '');
  renderHeader();
  const { serving, models } = state.list;
  const wanted = new URL(location.href).searchParams.get('version');
  const known = (v) => models.some((m) => m.version === v);
  state.selected = known(state.selected) ? state.selected : known(wanted) ? wanted : known(serving) ? serving : (models[0]?.version ?? null);
  renderVersions({
    choose: (version) => select(version, { reveal: true }),
    deploy: (version) => rollback(version, { reload: loadAll }),
  });
  fillCompareSelects();
  const work = [loadRuns({ choose: (version) => select(version, { reveal: true }) }), loadSeries(), loadCorrections(), renderCompare()];
  if (state.selected === null) renderNoDetail();
  else work.push(select(state.selected));
  await Promise.all(work);
}

setUpAdminToken();
$('refresh').addEventListener('click', () => void loadAll());
$('bucket').addEventListener('change', () => void loadSeries());
$('feedback-kind').addEventListener('change', () => void loadCorrections());
for (const id of ['compare-a', 'compare-b']) {
  $(id).addEventListener('change', () => {
    state.compareChosen = true;
    void renderCompare();
  });
}

void loadAll();

// Deploying an earlier version (a rollback) with the admin token, which this tab keeps for
// itself. Deploying replaces the webapp serving this page, so the answer may never come: the
// page then asks which version serves until it is the chosen one.

import { api, UNREACHABLE } from './api.js';
import { $, h, setStatus } from './dom.js';
import { state } from './models-state.js';

const TOKEN_KEY = 'mlpl.adminToken';
/** After a rollback whose connection dropped (the webapp itself is replaced), how long to keep asking what is in service. */
const ROLLBACK_POLL_MS = 3000;
const ROLLBACK_POLL_FOR_MS = 180_000;

function readToken() {
  try {
    return sessionStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

function keepToken(token) {
  try {
    if (token === '') sessionStorage.removeItem(TOKEN_KEY);
    else sessionStorage.setItem(TOKEN_KEY, token);
  } catch {
    // Storage refused (private mode): the token still works while the field holds it.
  }
}

/** The admin token field: filled from this tab's storage, kept there as it is typed, forgotten on request. */
export function setUpAdminToken() {
  const tokenInput = $('admin-token');
  tokenInput.value = readToken();
  tokenInput.addEventListener('input', () => keepToken(tokenInput.value.trim()));
  $('forget-token').addEventListener('click', () => {
    tokenInput.value = '';
    keepToken('');
    tokenInput.focus();
  });
  // Enter in the token field must not submit (and reload) the page.
  $('admin-form').addEventListener('submit', (event) => event.preventDefault());
  $('rollback-status').tabIndex = -1;
}

function setDeploying(version) {
  state.deploying = version;
  $('versions').setAttribute('aria-busy', String(version !== null));
  for (const button of document.querySelectorAll('button.deploy')) button.disabled = version !== null;
}

/** After a dropped connection: asks what is in service until it is `version` or time runs out. */
async function waitForServing(version) {
  const until = Date.now() + ROLLBACK_POLL_FOR_MS;
  while (Date.now() < until) {
    await new Promise((resolve) => setTimeout(resolve, ROLLBACK_POLL_MS));
    try {
      const list = await api('/api/models');
      if (list.serving === version) return true;
    } catch {
      // The new container may still be starting.
    }
  }
  return false;
}

/** Deploys `version`, says how that went, then `reload()`s the page's data. */
export async function rollback(version, { reload }) {
  if (state.deploying !== null) return;
  const status = $('rollback-status');
  const progress = $('rollback-progress');
  const token = $('admin-token').value.trim();
  const previous = state.list.serving;
  setDeploying(version);
  setStatus(status, '');
  progress.dataset.kind = 'busy';
  const elapsed = h('span', { 'aria-hidden': 'true', text: '0 s' });
  const button = document.querySelector(`[data-testid="rollback-${CSS.escape(version)}"]`);
  if (button) button.textContent = 'Deploying…';
  progress.replaceChildren(`Deploying ${version}… The appbuilder starts its image and waits for the health check; this can take a few minutes. `, elapsed);
  const started = Date.now();
  const timer = setInterval(() => { elapsed.textContent = `${Math.round((Date.now() - started) / 1000)} s`; }, 1000);
  try {
    const result = await api(`/api/models/${encodeURIComponent(version)}/rollback`, {
      method: 'POST',
      headers: token === '' ? {} : { authorization: `Bearer ${token}` },
    });
    const took = Number.isFinite(result.deployMs) ? ` in ${(result.deployMs / 1000).toFixed(1)} s` : '';
    setStatus(status, `Deployed ${result.version ?? version}${took}, replacing ${result.previousVersion ?? previous}.`, 'ok');
  } catch (error) {
    if (error.status === UNREACHABLE) {
      // Deploying replaces this very webapp: the answer may be lost with the old container.
      progress.replaceChildren(`The connection closed while deploying ${version} (the webapp is replaced when a version is deployed). Checking which version is in service… `, elapsed);
      const deployed = await waitForServing(version);
      setStatus(status, deployed
        ? `Deployed ${version}, replacing ${previous}.`
        : `Could not confirm the deployment of ${version}: the server did not report it in service. Refresh to check.`, deployed ? 'ok' : 'error');
    } else {
      const hint = error.status === 401 && token === '' ? ' Enter the admin token above.' : '';
      setStatus(status, `Not deployed (${error.status}): ${error.message}.${hint}`, 'error');
    }
  } finally {
    clearInterval(timer);
    setStatus(progress, '');
    setDeploying(null);
  }
  const focusWasLost = !document.activeElement || document.activeElement === document.body || !document.activeElement.isConnected;
  await reload();
  if (focusWasLost || document.activeElement === document.body) status.focus({ preventScroll: true });
}

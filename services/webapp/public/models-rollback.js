// Deploying another version (a rollback, when it is older than the one in service) with the
// admin token, which this tab keeps for itself, once the person confirms. Deploying replaces the
// webapp serving this page, so the answer may never come: the page then asks which version
// serves until it is the chosen one.

import { api, UNREACHABLE } from './api.js';
import { $, h, setStatus } from './dom.js';
import { state, summaryOf } from './models-state.js';

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

/** Where a newcomer finds the admin token: the README's two ways to run the project. */
function whereTheTokenIs() {
  return [
    'The admin token is among the secrets the project made when it started: with docker compose, ',
    h('code', { text: 'docker compose run --rm secrets admin-token' }),
    ' prints it; with ',
    h('code', { text: 'npm run stack' }),
    ', the command it printed at start prints it: ',
    h('code', { text: 'node -p "require(\'./.stack/secrets.json\').admin"' }),
    ' in the project folder.',
  ];
}

function showRefusal(status, ...parts) {
  status.replaceChildren(...parts);
  status.dataset.kind = 'error';
}

/** Whether deploying `version` goes back: it was made before the version in service. Unknown dates: not a rollback. */
function goesBack(version) {
  const created = (v) => Date.parse(summaryOf(v)?.createdAt ?? '');
  const [it, serving] = [created(version), created(state.list?.serving)];
  return Number.isFinite(it) && Number.isFinite(serving) && it < serving;
}

/**
 * The deploy button's words. One action (the API's /rollback) serves both ways: the words say
 * which way it takes the service, back to an older version or on to a newer one.
 */
export function deployLabel(version) {
  return goesBack(version) ? 'Roll back to this version' : 'Deploy this version';
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
  const tokenInput = $('admin-token');
  const token = tokenInput.value.trim();
  const previous = state.list.serving;
  // Without a token the server can only refuse: say where the token is instead of asking it.
  if (token === '') {
    showRefusal(status, `Not deployed: enter the admin token above first. `, ...whereTheTokenIs());
    tokenInput.focus();
    return;
  }
  const back = goesBack(version);
  const question = `${back ? 'Roll back to' : 'Deploy'} ${version} in place of ${previous}?\n\n`
    + `${previous} stops serving once ${version} passes its health check; this can take a few minutes.`;
  if (!window.confirm(question)) {
    setStatus(status, `Not deployed: ${previous} stays in service.`, 'info');
    return;
  }
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
      headers: { authorization: `Bearer ${token}` },
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
    } else if (error.code === 'unauthorized') {
      showRefusal(status, 'Not deployed: that admin token is not the one this webapp was given. ', ...whereTheTokenIs());
    } else if (error.code === 'rollback_disabled') {
      setStatus(status, `Not deployed: ${error.message}.`, 'error');
    } else {
      setStatus(status, `Not deployed (${error.status}): ${error.message}.`, 'error');
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

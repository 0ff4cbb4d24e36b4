// The page: draw or upload a digit, ask /api/predict, show the answer, and send the true digit
// to /api/feedback. Plain ES modules with no build step: express.static serves them as they are.

import { api, UNREACHABLE } from './api.js';
import { $, h, scrollToTop, setStatus } from './dom.js';
import { percent1 as percent } from './format.js';
import { createTrainingLine, registryLink } from './training-line.js';

const canvas = $('canvas');
const ctx = canvas.getContext('2d');
const fileInput = $('file');
const inputPanel = $('input-panel');
const dropzone = $('dropzone');
const resultPanel = $('result');
const digitEl = $('digit');
const answerText = $('answer-text');
const probabilitiesEl = $('probabilities');
const correctButton = $('correct');
const digitButtonsEl = $('digit-buttons');
const statusEl = $('status');
const modelVersionEl = $('model-version');
const modelAccuracyEl = $('model-accuracy');
const predictButton = $('predict');
const clearButton = $('clear');
const modelNewsEl = $('model-news');
const trainingLine = createTrainingLine($('training'));

/** Stroke width as a fraction of the canvas side: a digit drawn across most of the canvas is
 * shrunk to MNIST's 20-pixel box by the server, where this leaves strokes 2–3 px wide, as in MNIST. */
const STROKE_FRACTION = 1 / 10;
const INK = '#111111';
const PAPER = '#ffffff';
/** Pause after a stroke before predicting by itself, ms: long enough to start the next stroke of a 4 or a 7. */
const AUTO_PREDICT_DELAY_MS = 600;
/** How often an open, visible page asks which model serves, ms: a rollout shows within this. */
const MODEL_POLL_MS = 5000;
/** How long a replaced version may still answer, ms: during a rollout the old and the new container
 * both take requests until the old one is drained. Its answers then are not a change of model. */
const REPLACED_GRACE_MS = 60_000;

/** "a 7", "an 8": of the digits 0–9, only 8 is said with a vowel sound. */
function aDigit(digit) {
  return `${Number(digit) === 8 ? 'an' : 'a'} ${digit}`;
}

/** The uploaded file shown on the canvas, sent byte for byte; null when the drawing is the image. */
let upload = null;
/** True while there is nothing to predict (no stroke, no upload). */
let blank = true;
/** Bumped whenever the image changes, so an answer about an older image is never shown or corrected. */
let generation = 0;
/** Bumped per prediction request, so only the newest request's answer is shown. */
let requests = 0;
/** The shown answer and the exact bytes it was given: feedback sends those same bytes with its id. */
let answer = null;
let autoPredictTimer;
/** The stroke in progress: one pointer draws at a time, so a resting palm does not scribble. */
let stroke = null;
let modelVersion = null;
let modelPollTimer;
/** True while a poll of /api/model is in flight, so a page shown again does not start a second chain. */
let modelPolling = false;
/** Versions this page saw replaced → when (performance.now()). */
const replacedAt = new Map();

/** What went wrong, for the status line: an unreachable server comes with what to do about it. */
function reason(error) {
  return error.status === UNREACHABLE ? `${error.message}; check the connection and try again` : error.message;
}

function setState(state) {
  resultPanel.dataset.state = state;
  resultPanel.setAttribute('aria-busy', String(state === 'busy'));
}

function setFeedbackEnabled(enabled) {
  correctButton.disabled = !enabled;
  for (const button of digitButtonsEl.querySelectorAll('button')) button.disabled = !enabled;
}

function imageForm(blob, fields = {}) {
  const form = new FormData();
  // Text fields first: the server reads them before it decides what to do with the file.
  for (const [name, value] of Object.entries(fields)) form.append(name, value);
  form.append('image', blob, blob.name ?? 'digit.png');
  return form;
}

function paper() {
  ctx.fillStyle = PAPER;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
}

/** Called whenever the image changes: any answer shown so far is about another image. */
function imageChanged() {
  generation += 1;
  clearTimeout(autoPredictTimer);
  setStatus(statusEl, '');
  if (answer !== null || resultPanel.dataset.state === 'busy') {
    answer = null;
    setFeedbackEnabled(false);
    setState('stale');
    answerText.textContent = 'The image changed: press Predict for a new answer.';
  }
}

function resetAnswer() {
  digitEl.textContent = '?';
  answerText.textContent = 'Draw or upload a digit, then press Predict.';
  correctButton.textContent = 'Correct';
  showProbabilities(null);
  setState('empty');
}

function clearAll() {
  imageChanged();
  paper();
  upload = null;
  blank = true;
  resetAnswer();
}

function buildRows() {
  for (let digit = 0; digit < 10; digit++) {
    const row = document.createElement('li');
    row.dataset.digit = String(digit);
    row.innerHTML = '<span class="p-digit"></span><span class="bar"><span class="fill"></span></span><span class="p-value"></span>';
    row.querySelector('.p-digit').textContent = String(digit);
    probabilitiesEl.append(row);

    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = String(digit);
    button.dataset.label = String(digit);
    button.disabled = true;
    button.addEventListener('click', () => sendFeedback(digit));
    digitButtonsEl.append(button);
  }
}

function showProbabilities(probabilities) {
  const best = probabilities === null ? -1 : probabilities.indexOf(Math.max(...probabilities));
  for (const row of probabilitiesEl.children) {
    const digit = Number(row.dataset.digit);
    const p = probabilities?.[digit] ?? 0;
    row.querySelector('.fill').style.width = `${(p * 100).toFixed(2)}%`;
    row.querySelector('.p-value').textContent = probabilities === null ? '–' : percent.format(p);
    row.classList.toggle('best', digit === best);
  }
}

/** True when `version` is one the page saw replaced moments ago: a draining container's answer, not news. */
function justReplaced(version) {
  const at = replacedAt.get(version);
  return at !== undefined && performance.now() - at < REPLACED_GRACE_MS;
}

/** Another version serves than the one shown (a training run's model was rolled out, or one was rolled back to). */
function modelReplaced(version, { answeredByIt }) {
  const previous = modelVersion;
  replacedAt.set(previous, performance.now());
  replacedAt.delete(version);
  showModel(version);
  const news = answeredByIt
    ? `This answer comes from model ${version}, which now serves in place of ${previous}. `
    : answer !== null
      ? `Model ${version} now serves in place of ${previous}: press Predict to try your digit on it. `
      : `Model ${version} now serves in place of ${previous}. `;
  modelNewsEl.replaceChildren(news, registryLink('What changed'));
  modelNewsEl.hidden = false;
}

function showModel(version) {
  modelVersion = version;
  modelVersionEl.textContent = version;
}

/**
 * Asks which model serves, shows its accuracy, and says so when it is another than the one shown;
 * asks how training stands (trainingLine.refresh); then asks again in MODEL_POLL_MS while the page is
 * visible (a hidden page asks again when shown).
 */
async function pollModel() {
  clearTimeout(modelPollTimer);
  if (document.hidden || modelPolling) return;
  modelPolling = true;
  // How training stands, asked beside the model: the count and the runs' news stay current too.
  const trainingAsked = trainingLine.refresh();
  try {
    const model = await api('/api/model');
    if (modelVersion === null) showModel(model.version);
    else if (model.version !== modelVersion && !justReplaced(model.version)) modelReplaced(model.version, { answeredByIt: false });
    if (model.version === modelVersion) {
      const { accuracy, testCount } = model.metrics ?? {};
      modelAccuracyEl.textContent =
        typeof accuracy === 'number' ? `· ${percent.format(accuracy)} right on ${Number(testCount).toLocaleString('en')} test digits` : '';
    }
  } catch (error) {
    // Once a version is shown, a failed poll changes nothing: the next one may answer.
    if (modelVersion === null) modelAccuracyEl.textContent = `(details unavailable: ${reason(error)})`;
  } finally {
    await trainingAsked;
    modelPolling = false;
  }
  if (!document.hidden) modelPollTimer = setTimeout(pollModel, MODEL_POLL_MS);
}

function canvasBlob() {
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => (blob ? resolve(blob) : reject(new Error('the drawing could not be encoded'))), 'image/png');
  });
}

/** Where `element` is off screen, scrolls `target` into view: on a phone the answer sits below the canvas. */
function reveal(element, target = element) {
  const { top, bottom } = element.getBoundingClientRect();
  if (top >= 0 && bottom <= window.innerHeight) return;
  scrollToTop(target);
}

/** Asks for an answer about the current image. `show` scrolls to it: only when asked for
 * explicitly, since a page that jumps between the strokes of one digit is unusable. */
async function predict({ show = false } = {}) {
  clearTimeout(autoPredictTimer);
  if (blank) {
    setStatus(statusEl, 'Draw a digit or choose an image first.', 'error');
    if (show) reveal(statusEl, resultPanel);
    return;
  }
  const forGeneration = generation;
  const request = ++requests;
  // Set before the first await, so whoever clicked sees the page busy at once.
  setState('busy');
  setStatus(statusEl, '');
  try {
    const blob = upload ?? (await canvasBlob());
    const body = await api('/api/predict', { method: 'POST', body: imageForm(blob) });
    if (request !== requests || forGeneration !== generation) return;
    answer = { predictionId: body.predictionId, digit: body.digit, blob };
    digitEl.textContent = String(body.digit);
    answerText.textContent = `It looks like ${aDigit(body.digit)} (${percent.format(body.probabilities[body.digit])} sure).`;
    correctButton.textContent = `Yes, it is ${aDigit(body.digit)}`;
    showProbabilities(body.probabilities);
    resultPanel.dataset.predictionId = body.predictionId ?? '';
    setFeedbackEnabled(true);
    setState('answered');
    if (show) reveal(digitEl, resultPanel);
    // Another model was rolled out since the page last asked: say so, and show its accuracy.
    if (body.modelVersion !== modelVersion && !justReplaced(body.modelVersion)) {
      if (modelVersion === null) showModel(body.modelVersion);
      else modelReplaced(body.modelVersion, { answeredByIt: true });
      void pollModel();
    }
  } catch (error) {
    if (request !== requests || forGeneration !== generation) return;
    setState('error');
    setStatus(statusEl, `Could not predict: ${reason(error)}.`, 'error');
    if (show) reveal(statusEl, resultPanel);
  }
}

async function sendFeedback(label) {
  if (answer === null) return;
  const sent = answer;
  setFeedbackEnabled(false);
  setStatus(statusEl, 'Sending…');
  const fields = { label: String(label) };
  if (sent.predictionId) fields.predictionId = sent.predictionId;
  try {
    const stored = await api('/api/feedback', { method: 'POST', body: imageForm(sent.blob, fields) });
    trainingLine.feedbackStored(stored.training ?? null);
    const note = label === sent.digit ? '' : ` (the model said ${sent.digit})`;
    setStatus(statusEl, `Thank you: stored as ${aDigit(label)}${note}.`, 'ok');
  } catch (error) {
    setStatus(statusEl, `Not stored: ${reason(error)}.`, 'error');
    // Let the person try again, unless the image has changed meanwhile.
    if (answer === sent) setFeedbackEnabled(true);
  }
}

function scheduleAutoPredict() {
  clearTimeout(autoPredictTimer);
  autoPredictTimer = setTimeout(predict, AUTO_PREDICT_DELAY_MS);
}

/** Pointer position in canvas pixels: the bitmap is a fixed size, scaled by CSS. */
function canvasPoint(event) {
  const rect = canvas.getBoundingClientRect();
  return {
    x: ((event.clientX - rect.left) * canvas.width) / rect.width,
    y: ((event.clientY - rect.top) * canvas.height) / rect.height,
  };
}

function drawSegment(from, to) {
  ctx.strokeStyle = INK;
  ctx.lineWidth = canvas.width * STROKE_FRACTION;
  ctx.lineCap = 'round';
  ctx.beginPath();
  ctx.moveTo(from.x, from.y);
  ctx.lineTo(to.x, to.y);
  ctx.stroke();
}

canvas.addEventListener('pointerdown', (event) => {
  if (stroke !== null || (event.pointerType === 'mouse' && event.button !== 0)) return;
  event.preventDefault();
  canvas.setPointerCapture(event.pointerId);
  imageChanged();
  // Drawing over an upload makes the canvas, upload included, the image: what is seen is sent.
  upload = null;
  blank = false;
  const point = canvasPoint(event);
  stroke = { id: event.pointerId, last: point };
  drawSegment(point, point); // a tap leaves a dot
});

canvas.addEventListener('pointermove', (event) => {
  if (stroke === null || event.pointerId !== stroke.id) return;
  // Coalesced events keep fast strokes smooth where the browser batches moves per frame.
  const coalesced = event.getCoalescedEvents?.() ?? [];
  for (const move of coalesced.length > 0 ? coalesced : [event]) {
    const point = canvasPoint(move);
    drawSegment(stroke.last, point);
    stroke.last = point;
  }
});

function endStroke(event) {
  if (stroke === null || event.pointerId !== stroke.id) return;
  stroke = null;
  scheduleAutoPredict();
}
canvas.addEventListener('pointerup', endStroke);
canvas.addEventListener('pointercancel', endStroke);
canvas.addEventListener('lostpointercapture', endStroke);

/** Shows the file on the canvas (scaled to fit) and predicts from its original bytes. */
async function useFile(file) {
  if (file.type !== '' && !file.type.startsWith('image/')) {
    setStatus(statusEl, `“${file.name}” is not an image: choose a PNG, JPEG, GIF or WebP file.`, 'error');
    return;
  }
  imageChanged();
  upload = file;
  blank = false;
  paper();
  try {
    const bitmap = await createImageBitmap(file);
    const scale = Math.min(canvas.width / bitmap.width, canvas.height / bitmap.height);
    const width = bitmap.width * scale;
    const height = bitmap.height * scale;
    ctx.drawImage(bitmap, (canvas.width - width) / 2, (canvas.height - height) / 2, width, height);
    bitmap.close();
  } catch {
    // This browser cannot show it; the server may still read it, and says so if not.
  }
  await predict({ show: true });
}

fileInput.addEventListener('change', () => {
  const file = fileInput.files?.[0];
  // Emptied so choosing the same file again is a change too.
  fileInput.value = '';
  if (file) void useFile(file);
});

const carriesFiles = (event) => event.dataTransfer?.types.includes('Files') ?? false;
inputPanel.addEventListener('dragover', (event) => {
  if (!carriesFiles(event)) return;
  event.preventDefault();
  event.dataTransfer.dropEffect = 'copy';
  dropzone.classList.add('over');
});
inputPanel.addEventListener('dragleave', (event) => {
  if (!inputPanel.contains(event.relatedTarget)) dropzone.classList.remove('over');
});
inputPanel.addEventListener('drop', (event) => {
  event.preventDefault();
  dropzone.classList.remove('over');
  const file = event.dataTransfer?.files[0];
  if (file) void useFile(file);
});
// A file dropped anywhere else would make the browser leave the page to open it.
for (const type of ['dragover', 'drop']) window.addEventListener(type, (event) => event.preventDefault());

predictButton.addEventListener('click', () => void predict({ show: true }));
clearButton.addEventListener('click', clearAll);
correctButton.addEventListener('click', () => {
  if (answer !== null) void sendFeedback(answer.digit);
});

buildRows();
clearAll();
document.addEventListener('visibilitychange', () => {
  if (!document.hidden) void pollModel();
});
void pollModel();

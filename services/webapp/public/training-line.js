// The page's training line: how many labelled digits the next training run has, and what
// became of the runs since this page's last feedback (under way, kept the model, failed).
import { api } from './api.js';
import { h } from './dom.js';

/** A link to the model registry, where every version, its training and its test scores are listed. */
export function registryLink(text) {
  return h('a', { href: '/models', text });
}

/** What a refused run set aside for review, as a sentence of the line; empty when it set none aside. */
function setAsideText(setAside) {
  if (!setAside) return '';
  const n = setAside.refusalsInARow;
  const times = n === null ? 'After too many refusals in a row' : n === 1 ? 'After this refusal' : `After ${n} refusals in a row`;
  return `${times}, the ${setAside.images === 1 ? 'labelled digit it tried is' : `${setAside.images} labelled digits it tried are`} set aside for people to review. `;
}

/**
 * The line under the feedback status, in `element`: hidden until a count is known. `refresh()`
 * asks /api/training (the page does at each model poll); `feedbackStored(progress)` takes the
 * count a feedback answer carried.
 */
export function createTrainingLine(element) {
  /** The last count of labels waiting for training ({pending, threshold}), from a feedback answer or /api/training; null: unknown. */
  let progress = null;
  /** The last answer of /api/training: the newest run and whether training waits for new labels. */
  let training = null;
  /** The newest run that had finished when this page last stored a feedback: runs after it are news. Null before the page's first feedback. */
  let seenRunId = null;
  /** Bumped when a feedback answer comes: an /api/training answer to a request sent before it counts fewer labels. */
  let feedbackAnswers = 0;

  /** How far the next training run is, as the server counts labels; training's trigger reads the same count. */
  function progressText({ pending, threshold }) {
    return pending < threshold
      ? `Collected for the next training: ${pending} of ${threshold} labelled digits (corrections and confirmations) — the model retrains at ${threshold}. `
      : `Collected for the next training: ${pending} labelled digits, enough (it needs ${threshold}) — training starts at its next check; its model replaces this one only if it passes the check on test digits. `;
  }

  /** The newest run that has finished, as far as the last /api/training answer tells: runs are one at a time, so one running means the one before it is done. */
  function newestFinishedRun() {
    const run = training?.lastRun;
    if (!run) return 0;
    return run.status === 'running' ? run.id - 1 : run.id;
  }

  /**
   * What the training line says: a run under way; a run that kept the model (rejected, failed)
   * since this page's feedback, or a rejection training still waits on; else the count. A run that
   * made a model needs no words here: the model news says so once it serves.
   */
  function trainingLine() {
    const run = training?.lastRun ?? null;
    if (run?.status === 'running') {
      return [`Training run ${run.id} is under way on the labelled digits collected; its model replaces this one only if it passes the check on test digits. `, registryLink('See every model version'), '.'];
    }
    const news = run !== null && seenRunId !== null && run.id > seenRunId;
    const runsLink = h('a', { href: '/models#runs-heading', text: 'See every training run' });
    if (run?.status === 'rejected' && (news || training.waitsForNewLabels)) {
      // The verdict reads "rejected: lost …" when the recorded numbers explain it, else it is the gate's own text.
      const why = run.verdict?.startsWith('rejected') ? `its candidate was ${run.verdict}` : `the gate said: ${run.verdict ?? 'rejected'}`;
      const kept = `Training run ${run.id} kept the model in service — ${why}. ${setAsideText(run.setAside)}`;
      // After a rejection, training does not retrain on the same labels: the count alone would say "starts at its next check".
      const next = training.waitsForNewLabels && progress.pending >= progress.threshold
        ? 'The next run waits for new labels: one more labelled digit starts it. '
        : progressText(progress);
      return [kept, next, runsLink, '.'];
    }
    if (run?.status === 'failed' && news) {
      return [`Training run ${run.id} failed, so the model in service stays: ${run.error}. `, progressText(progress), runsLink, '.'];
    }
    return [progressText(progress), registryLink('See every model version'), '.'];
  }

  /** Shows where labels go; hidden while the count is unknown. Left alone when the words are the same, so a screen reader does not hear them again at every poll. */
  function show() {
    if (progress === null) {
      element.hidden = true;
      return;
    }
    const line = h('span', {}, ...trainingLine());
    if (!element.hidden && element.textContent === line.textContent) return;
    element.replaceChildren(...line.childNodes);
    element.hidden = false;
  }

  /** Asks how training stands; a failure leaves the line as it was (the next poll may answer). */
  async function refresh() {
    const answersBefore = feedbackAnswers;
    try {
      const body = await api('/api/training');
      if (answersBefore !== feedbackAnswers) return;
      training = body;
      progress = { pending: body.pending, threshold: body.threshold };
      show();
    } catch {
      // The count shown, if any, stays: it was right when it came.
    }
  }

  return {
    refresh,
    feedbackStored(stored) {
      feedbackAnswers += 1;
      // Runs that finish from now on are news to this person, the one under way included.
      seenRunId = newestFinishedRun();
      progress = stored;
      // A label newer than what a rejected run saw ends training's wait (unless its digit is one
      // training leaves out, which the refresh below then says).
      if (training !== null) training = { ...training, waitsForNewLabels: false };
      show();
      if (progress !== null) void refresh();
    },
  };
}

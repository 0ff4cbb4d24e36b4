/** The webapp's HTTP API, served at /docs/openapi.json; a test checks every route here exists. */
const errorResponse = (description: string, headers?: Record<string, unknown>) => ({
  description,
  ...(headers === undefined ? {} : { headers }),
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const RETRY_AFTER = { 'Retry-After': { description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } } };

const RATE_LIMITED = errorResponse(
  'This client (its address; behind a proxy, see TRUST_PROXY) sent more than RATE_LIMIT_PREDICT_PER_MINUTE predictions or RATE_LIMIT_FEEDBACK_PER_MINUTE corrections in a minute (`rate_limited`); retry after `Retry-After` seconds',
  RETRY_AFTER,
);

const imageField = {
  type: 'string',
  format: 'binary',
  description: 'PNG, JPEG, GIF or WebP; a digit dark on light or light on dark, any size within the limits',
};

const versionParameter = { name: 'version', in: 'path', required: true, schema: { type: 'string', pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' } } as const;

const live = {
  type: 'object',
  properties: {
    predictions: { type: 'integer', description: 'predictions served in the window the answer states (window.liveDays)' },
    corrections: { type: 'integer', description: 'predictions people sent feedback on (labelled), whatever the label: corrections and confirmations alike' },
    wrong: { type: 'integer', description: 'of those, how many people labelled another digit than the model said (corrections)' },
    errorRate: { type: 'number', nullable: true, description: 'wrong ÷ predictions' },
  },
} as const;

/** What the registry's answers leave out (registry-types.ts, RegistryWindow). */
const registryWindow = {
  type: 'object',
  description: 'live counts are of recent predictions only, and only the newest records are read',
  properties: {
    liveDays: { type: 'integer', description: 'live counts (live, liveByClass) are of the predictions of the last this many days (30)' },
    liveSince: { type: 'string', format: 'date-time', description: 'that is, since this time' },
    recordLimit: { type: 'integer', description: 'at most this many builds, deployments and training runs are read, newest first (1,000)' },
    recordsTruncated: { type: 'boolean', description: 'some were left out: older versions may show no image, run or time in service' },
  },
} as const;

/** Answers of the registry's anonymous reads are remembered this long (registry.ts, READ_CACHE_MS). */
const CACHED = 'Remembered for 5 s (the same answer to every request for it meanwhile); a change of the model in service or a rollback through this webapp shows at once.';

/** Which versions a run's model came from: the same three fields on a run and on a version. */
const lineage = {
  servingVersion: {
    type: 'string',
    nullable: true,
    description: 'the version in service when the run started, per the deployment records; it differs from parentVersion only when it could not be loaded. Null for a model no run made, or a run recorded before runs kept it',
  },
  incumbentNote: { type: 'string', nullable: true, description: 'why the run started from another version than the one in service (it could not be loaded), as the training service recorded it' },
  lineage: {
    type: 'string',
    nullable: true,
    description: 'both in a sentence: "trained from v9, which was in service", "trained from v8: v9 was in service but could not be loaded: …", "trained from scratch, judged against v9, which was in service"; null when no run made it',
  },
} as const;

/** One check of the gate, as the training service recorded it (lineage.ts in @mlpl/shared). */
const gateCheck = {
  type: 'object',
  required: ['kind', 'set', 'candidate', 'incumbent', 'delta', 'passed', 'summary'],
  properties: {
    kind: {
      type: 'string',
      enum: ['worse', 'floor', 'corrections', 'class', 'accuracy'],
      description:
        "'worse': McNemar's one-sided exact test on the digits of a set the two models disagree on; 'floor': the candidate's test accuracy against the best any served version reached on the same test set, less the tolerance; " +
        "'corrections': labelled digits the model judged against answers right that the candidate gets wrong; 'class': per-digit recall on the test set; 'accuracy': the rule of runs recorded before these (accuracy on a set within the tolerance)",
    },
    set: { type: 'string', description: "'test' (the fixed base test set), 'feedback' (held-out labelled digits), 'corrections' (every labelled digit, trained on or not)" },
    candidate: { type: 'number', nullable: true, description: "the candidate's accuracy in [0, 1] (for 'class': the recall of the digit that lost most); null when it was not a number" },
    incumbent: { type: 'number', nullable: true, description: "the same of the model judged against ('floor': the best served accuracy); null when there was nothing to compare with" },
    delta: { type: 'number', nullable: true, description: 'candidate − incumbent (0.01 = one point)' },
    passed: { type: 'boolean' },
    summary: { type: 'string', description: "the check and its numbers in the training service's sentence; when it failed, the reason" },
    mcnemar: {
      type: 'object',
      description: "'worse': digits only the model judged against got right (b) and only the candidate (c), the one-sided p and the significance it must not fall below while b > c",
      properties: { incumbentOnly: { type: 'integer' }, candidateOnly: { type: 'integer' }, pValue: { type: 'number' }, significance: { type: 'number' } },
    },
    floor: {
      type: 'object',
      description: "'floor': floor = best − tolerance; best is bestVersion's test accuracy, the highest of any served version",
      properties: { floor: { type: 'number' }, best: { type: 'number' }, bestVersion: { type: 'string' }, tolerance: { type: 'number' } },
    },
    corrections: {
      type: 'object',
      description: "'corrections': of the incumbentRight labelled digits the model judged against answers right, broken are wrong now (their image ids in brokenImageIds); at most allowance may be",
      properties: { incumbentRight: { type: 'integer' }, broken: { type: 'integer' }, allowance: { type: 'integer' }, brokenImageIds: { type: 'array', items: { type: 'integer' } } },
    },
    classes: {
      type: 'object',
      description: "'class': a digit fails when its recall fell by more than margin and by at least minDigits digits",
      properties: {
        margin: { type: 'number' },
        minDigits: { type: 'integer' },
        classes: {
          type: 'array',
          items: {
            type: 'object',
            properties: { label: { type: 'string' }, candidate: { type: 'number' }, incumbent: { type: 'number' }, digitsLost: { type: 'integer' }, support: { type: 'integer' }, passed: { type: 'boolean' } },
          },
        },
      },
    },
  },
} as const;

const trainingRun = {
  type: 'object',
  required: ['id', 'status', 'startedAt', 'finishedAt', 'parentVersion', 'servingVersion', 'incumbentNote', 'lineage', 'modelVersion', 'verdict', 'error', 'checks', 'setAside'],
  properties: {
    id: { type: 'integer' },
    status: { type: 'string', enum: ['running', 'promoted', 'rejected', 'failed'] },
    startedAt: { type: 'string', format: 'date-time' },
    finishedAt: { type: 'string', format: 'date-time', nullable: true },
    parentVersion: { type: 'string', nullable: true, description: 'the version it descended from (fine-tuned from) and was judged against' },
    ...lineage,
    modelVersion: { type: 'string', nullable: true, description: 'the version it made; null when it made none (rejected, failed before its gate, still training)' },
    verdict: {
      type: 'string',
      nullable: true,
      description: 'the gate\'s verdict in plain words, as a version\'s gate.summary, e.g. "rejected: worse than v3 on the test set: only v3 was right on 30 digits, only the candidate on 10 (McNemar\'s p = 0.0011, below 0.05)"; null before the gate',
    },
    error: { type: 'string', nullable: true, description: 'why it failed, as the training service recorded it; null unless failed' },
    checks: { type: 'array', nullable: true, items: gateCheck, description: "the gate's checks with their figures; null before the gate" },
    setAside: {
      type: 'object',
      nullable: true,
      description: 'what this refused run set aside for review: its unused labelled digits, as the refusalsInARow-th refusal in a row (TRAINING_REFUSALS_BEFORE_REVIEW as it had it; null if not recorded); null when it set none aside',
      properties: { images: { type: 'integer' }, refusalsInARow: { type: 'integer', nullable: true } },
    },
  },
} as const;

const modelSummary = {
  version: { type: 'string' },
  parentVersion: { type: 'string', nullable: true, description: 'the version it descended from (fine-tuned from, or judged against when trained from scratch)' },
  ...lineage,
  runId: { type: 'integer', nullable: true },
  createdAt: { type: 'string', format: 'date-time', nullable: true },
  state: { type: 'string', enum: ['serving', 'retired', 'built', 'unreleased'] },
  testAccuracy: { type: 'number', nullable: true },
  gate: {
    type: 'object',
    nullable: true,
    description: 'null for a version no training run made (the pretrained model)',
    properties: {
      promoted: { type: 'boolean', description: 'the run was promoted: its version was handed over to be built' },
      passed: { type: 'boolean', description: 'every check of the gate passed' },
      reason: { type: 'string', nullable: true, description: "the gate's own words, as the training service recorded them" },
      summary: {
        type: 'string',
        description:
          'the verdict in plain words, made from the recorded figures, e.g. "promoted: 0.4 points better than v3 on the test set; all 5 checks passed", ' +
          '"rejected: worse than v3 on the test set: only v3 was right on 30 digits, only the candidate on 10 (McNemar\'s p = 0.0011, below 0.05)"',
      },
      against: { type: 'string', nullable: true, description: 'the version it was judged against: parentVersion (see lineage)' },
      tolerance: {
        type: 'number',
        nullable: true,
        description: 'TRAINING_TOLERANCE (0.01 = one point): the floor\'s slack below the best served test accuracy; for runs recorded before the checks had kinds, the largest loss allowed on a set',
      },
    },
  },
  image: { type: 'string', nullable: true },
  digest: { type: 'string', nullable: true },
  served: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        from: { type: 'string', format: 'date-time' },
        until: { type: 'string', format: 'date-time', nullable: true, description: 'null: still serving' },
        basis: {
          type: 'string',
          enum: ['deployment', 'first-start'],
          description: "'deployment': from the appbuilder's records; 'first-start': the first model a webapp loaded, inferred from its earliest record until the first deployment",
        },
      },
    },
  },
  live,
} as const;

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'mlpl webapp',
    version: '1.0.0',
    description:
      'Classify a handwritten digit and correct the answer. Corrections are stored (image in object storage, label in MySQL) and used by the training service. ' +
      'Every error is `{error: {code, message}}`, the message saying what to send instead. A path answers only the methods listed for it: ' +
      'another method gets 405 `method_not_allowed` with an `Allow` header naming those it takes (OPTIONS gets 200 with `Allow`); a path not listed gets 404 `not_found`.',
  },
  paths: {
    '/api/predict': {
      post: {
        summary: 'Classify a digit image',
        parameters: [
          {
            name: 'x-mlpl-probe',
            in: 'header',
            required: false,
            schema: { type: 'string' },
            description: "The appbuilder's health gate sends the PROBE_TOKEN it shares with the webapp: the prediction is answered but not recorded (`predictionId` null) and not counted against the rate limit. Any other value is ignored.",
          },
        ],
        requestBody: {
          required: true,
          content: { 'multipart/form-data': { schema: { type: 'object', required: ['image'], properties: { image: imageField } } } },
        },
        responses: {
          '200': { description: 'The prediction', content: { 'application/json': { schema: { $ref: '#/components/schemas/Prediction' } } } },
          '400': errorResponse('No image file (`missing_image`, also when `image` came as text), an empty file, a file in another field than `image` or an unexpected field (`unexpected_field`), two files (`too_many_files`), too many fields or parts, a field name or value too long, a part with no name, a malformed multipart body'),
          '413': errorResponse('The file is larger than MAX_UPLOAD_BYTES (`image_too_large`; the message names the limit)'),
          '415': errorResponse('Not an image of an accepted format'),
          '422': errorResponse('Corrupt image, too many pixels (MAX_IMAGE_PIXELS) or no ink'),
          '429': RATE_LIMITED,
          '503': errorResponse('Every decoder is busy and MAX_QUEUED_DECODES uploads wait already (`busy`); retry after `Retry-After` seconds', RETRY_AFTER),
        },
      },
    },
    '/api/feedback': {
      post: {
        summary: 'Store the true label of an image',
        description:
          'Answers 201 only once the image is in storage and its row is in the database. When either is unavailable the answer is 503 and no row is written.',
        requestBody: {
          required: true,
          content: {
            'multipart/form-data': {
              schema: {
                type: 'object',
                required: ['image', 'label'],
                properties: {
                  image: imageField,
                  label: { type: 'string', pattern: '^[0-9]$', description: 'The true digit' },
                  predictionId: { type: 'string', format: 'uuid', description: 'The id /api/predict returned for this image' },
                },
              },
            },
          },
        },
        responses: {
          '201': { description: 'Stored', content: { 'application/json': { schema: { $ref: '#/components/schemas/Feedback' } } } },
          '400': errorResponse('Missing or invalid label, image or predictionId, a file in another field than `image` or an unexpected field (`unexpected_field`), two files (`too_many_files`), too many fields or parts, a field name or value too long, a part with no name, a malformed multipart body'),
          '413': errorResponse('The file is larger than MAX_UPLOAD_BYTES (`image_too_large`; the message names the limit)'),
          '415': errorResponse('Not an image of an accepted format'),
          '422': errorResponse('Corrupt or blank image, too many pixels, an unknown predictionId, or one made for a different image'),
          '429': RATE_LIMITED,
          '503': errorResponse('Database or storage unavailable or stalled; no row was written (an uploaded object may stay, harmlessly: it is content-addressed). Or every decoder is busy and MAX_QUEUED_DECODES uploads wait already (`busy`, with `Retry-After`)', RETRY_AFTER),
        },
      },
    },
    '/api/model': {
      get: {
        summary: 'The model in service',
        responses: { '200': { description: 'Its metadata', content: { 'application/json': { schema: { $ref: '#/components/schemas/Model' } } } } },
      },
    },
    '/api/models': {
      get: {
        summary: 'The model registry: every version, the one in service marked',
        description: CACHED,
        responses: {
          '200': { description: 'Versions, newest first', content: { 'application/json': { schema: { $ref: '#/components/schemas/ModelList' } } } },
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/models/error-rate': {
      get: {
        summary: 'Live error rate over time, per version (probes of the health gate excluded)',
        description: `Of the predictions of the last day (minute buckets), 30 days (hour) or 365 days (day). ${CACHED}`,
        parameters: [{ name: 'bucket', in: 'query', schema: { type: 'string', enum: ['minute', 'hour', 'day'], default: 'hour' } }],
        responses: {
          '200': { description: 'One point per version per bucket', content: { 'application/json': { schema: { $ref: '#/components/schemas/ErrorRateSeries' } } } },
          '400': errorResponse('Unknown bucket'),
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/models/{version}': {
      get: {
        summary: 'One version: lineage, parameters, per-epoch curves, evaluation of candidate and incumbent, gate, training data, image, service periods, live error rate overall and by digit',
        description: CACHED,
        parameters: [versionParameter],
        responses: {
          '200': { description: 'The version', content: { 'application/json': { schema: { $ref: '#/components/schemas/ModelDetail' } } } },
          '400': errorResponse('Not a version name'),
          '404': errorResponse('No such version is recorded'),
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/models/{version}/training-images': {
      get: {
        summary: 'The exact image ids a version was trained on (feedback, base replay) and the held-out feedback it was evaluated on',
        description: CACHED,
        parameters: [versionParameter],
        responses: {
          '200': { description: 'Image ids (rows of `images`)', content: { 'application/json': { schema: { $ref: '#/components/schemas/TrainingImages' } } } },
          '404': errorResponse('Neither a training run nor model metadata records the data of this version'),
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/models/{version}/rollback': {
      post: {
        summary: 'Deploy this (earlier) version again, through the appbuilder; needs the admin token',
        security: [{ admin: [] }],
        parameters: [versionParameter],
        responses: {
          '200': { description: 'That version is already in service: nothing done ({version, previousVersion, unchanged: true})' },
          '201': { description: 'Deployed: the appbuilder\'s answer {version, image, deployMs, gapMs, previousVersion}' },
          '202': { description: 'Docker target: this webapp was replaced while it relayed the request; the deployment goes on (follow /api/models)' },
          '400': errorResponse('Not a version name, or a reserved one such as `latest` or `current` (`invalid_version`)'),
          '401': errorResponse('No or wrong admin token (`unauthorized`), or this webapp has no ADMIN_TOKEN (`rollback_disabled`): nothing changes'),
          '404': errorResponse('No successful build of that version'),
          '409': errorResponse('A build or deployment is in progress (`busy`), or the build record names another image than `<repo>:<version>` (`unexpected_image`)'),
          '410': errorResponse('The build of that version no longer exists'),
          '502': errorResponse('The deployment failed; the previous version keeps serving'),
          '503': errorResponse('The appbuilder cannot be reached'),
          '504': errorResponse('The appbuilder had not finished after 300 s; follow /api/models'),
        },
      },
    },
    '/api/training': {
      get: {
        summary: 'Where training stands: labelled digits waiting for the next run, and the newest run (what it made, or why it made nothing)',
        responses: {
          '200': { description: 'The status', content: { 'application/json': { schema: { $ref: '#/components/schemas/TrainingStatus' } } } },
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/training/runs': {
      get: {
        summary: 'Training runs, newest first, those that made no version (rejected, failed) included',
        parameters: [{ name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 999, default: 50 } }],
        responses: {
          '200': { description: 'The runs', content: { 'application/json': { schema: { $ref: '#/components/schemas/TrainingRunList' } } } },
          '400': errorResponse('Bad limit'),
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/corrections': {
      get: {
        summary: 'Recent feedback, newest first, with what the model said and what the person said, and how many there are of each kind',
        description: CACHED,
        parameters: [
          { name: 'limit', in: 'query', schema: { type: 'integer', minimum: 1, maximum: 999, default: 24 } },
          {
            name: 'kind',
            in: 'query',
            description: 'correction: the person said another digit than the model; confirmation: the same one; unlinked: sent without a prediction',
            schema: { type: 'string', enum: ['all', 'correction', 'confirmation', 'unlinked'], default: 'all' },
          },
        ],
        responses: {
          '200': { description: 'Corrections', content: { 'application/json': { schema: { $ref: '#/components/schemas/CorrectionList' } } } },
          '400': errorResponse('Bad limit or kind'),
          '503': errorResponse('The database is unavailable'),
        },
      },
    },
    '/api/corrections/{id}/image': {
      get: {
        summary: 'The image a correction stored',
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'integer' } }],
        responses: {
          '200': {
            description: 'The bytes, as uploaded: as image/png, image/jpeg, image/gif or image/webp (the types feedback is stored with); any other type its row records is served as application/octet-stream with Content-Disposition: attachment',
            content: { 'image/png': {}, 'image/jpeg': {}, 'image/gif': {}, 'image/webp': {}, 'application/octet-stream': {} },
          },
          '404': errorResponse('No such correction'),
          '503': errorResponse('Storage unavailable'),
        },
      },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'The process answers' } } } },
    '/readyz': {
      get: {
        summary: 'Readiness: model loaded, database and storage reachable',
        description: "Each check's name (model, database, storage, startup) and 'ok' or 'failed', nothing more: why a check failed is in the webapp's log.",
        responses: {
          '200': { description: 'Ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
          '503': { description: 'Not ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Text exposition format' } } } },
  },
  components: {
    securitySchemes: { admin: { type: 'http', scheme: 'bearer', description: 'ADMIN_TOKEN' } },
    schemas: {
      ModelList: { type: 'object', properties: { serving: { type: 'string' }, models: { type: 'array', items: { type: 'object', properties: modelSummary } }, window: registryWindow } },
      ModelDetail: {
        type: 'object',
        properties: {
          ...modelSummary,
          parameters: { type: 'object', nullable: true },
          history: { type: 'array', items: { type: 'object', properties: { epoch: { type: 'integer' }, loss: { type: 'number' }, accuracy: { type: 'number' }, valLoss: { type: 'number' }, valAccuracy: { type: 'number' } } } },
          evaluation: {
            type: 'object',
            nullable: true,
            description: 'candidate and incumbent per set (accuracy, loss, testCount, confusionMatrix, perClass), and the gate checks',
            properties: { candidate: { type: 'object' }, incumbent: { type: 'object' }, checks: { type: 'array', items: gateCheck } },
          },
          trainingData: {
            type: 'object',
            nullable: true,
            description:
              'mode, byClass, bySource, heldOutFeedback, test; newFeedback (trained on for the first time) and earlierFeedback (replayed from runs before), which add up to bySource.feedback; both null when not recorded apart (from scratch, the pretrained model)',
          },
          liveByClass: { type: 'array', items: live, description: 'by predicted digit 0–9' },
          window: registryWindow,
        },
      },
      TrainingStatus: {
        type: 'object',
        required: ['pending', 'threshold', 'waitsForNewLabels', 'lastRun', 'setAside'],
        properties: {
          pending: { type: 'integer', description: 'labelled digits (feedback) no training run has used yet, those set aside for review left out' },
          threshold: { type: 'integer', description: 'TRAINING_THRESHOLD: at this many the training service starts a run at its next check' },
          waitsForNewLabels: {
            type: 'boolean',
            description: 'true after a rejected run while no label has come in since: training does not retrain on the same labels, so the next run waits for a new one',
          },
          lastRun: { ...trainingRun, nullable: true, description: 'the newest run, finished or not; null before the first' },
          setAside: {
            type: 'object',
            required: ['total', 'byClass', 'runs', 'summary'],
            description:
              'labelled digits set aside for review: after TRAINING_REFUSALS_BEFORE_REVIEW refusals in a row, training stops trying the unused ones the refused runs tried, until people review them (a review page is to come)',
            properties: {
              total: { type: 'integer' },
              byClass: { type: 'array', items: { type: 'integer' }, minItems: 10, maxItems: 10, description: 'per digit 0–9' },
              runs: {
                type: 'array',
                description: 'the runs that set them aside, newest first: how many of theirs are still aside, and after how many refusals in a row (null: not recorded)',
                items: {
                  type: 'object',
                  properties: { id: { type: 'integer' }, finishedAt: { type: 'string', format: 'date-time', nullable: true }, images: { type: 'integer' }, refusalsInARow: { type: 'integer', nullable: true } },
                },
              },
              summary: { type: 'string', nullable: true, description: 'in words, for the pages; null when none is set aside' },
            },
          },
        },
      },
      TrainingRunList: { type: 'object', properties: { runs: { type: 'array', items: trainingRun } } },
      TrainingImages: {
        type: 'object',
        properties: { version: { type: 'string' }, feedback: { type: 'array', items: { type: 'integer' } }, replay: { type: 'array', items: { type: 'integer' } }, heldOut: { type: 'array', items: { type: 'integer' } } },
      },
      ErrorRateSeries: {
        type: 'object',
        properties: {
          bucket: { type: 'string' },
          days: { type: 'integer', description: 'the points are of the predictions of the last this many days: 1 (minute), 30 (hour), 365 (day)' },
          since: { type: 'string', format: 'date-time', description: 'that is, since this time' },
          points: { type: 'array', items: { type: 'object', properties: { version: { type: 'string' }, start: { type: 'string', format: 'date-time' }, predictions: { type: 'integer' }, wrong: { type: 'integer' }, errorRate: { type: 'number', nullable: true } } } },
        },
      },
      CorrectionList: {
        type: 'object',
        properties: {
          corrections: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'integer' },
                createdAt: { type: 'string', format: 'date-time' },
                label: { type: 'integer' },
                predictedDigit: { type: 'integer', nullable: true },
                kind: { type: 'string', enum: ['correction', 'confirmation', 'unlinked'] },
                modelVersion: { type: 'string', nullable: true },
                imageUrl: { type: 'string' },
              },
            },
          },
          counts: {
            type: 'object',
            description: 'all feedback, by kind',
            properties: { correction: { type: 'integer' }, confirmation: { type: 'integer' }, unlinked: { type: 'integer' } },
          },
        },
      },
      Error: {
        type: 'object',
        required: ['error'],
        properties: {
          error: { type: 'object', required: ['code', 'message'], properties: { code: { type: 'string' }, message: { type: 'string' } } },
        },
      },
      Prediction: {
        type: 'object',
        required: ['digit', 'probabilities', 'modelVersion', 'predictionId'],
        properties: {
          digit: { type: 'integer', minimum: 0, maximum: 9 },
          probabilities: { type: 'array', items: { type: 'number' }, minItems: 10, maxItems: 10 },
          modelVersion: { type: 'string' },
          predictionId: { type: 'string', format: 'uuid', nullable: true, description: 'null when the prediction could not be recorded' },
        },
      },
      Feedback: {
        type: 'object',
        required: ['id', 'label', 'objectKey', 'sha256'],
        properties: {
          id: { type: 'integer' },
          label: { type: 'integer' },
          objectKey: { type: 'string' },
          sha256: { type: 'string' },
          contentType: { type: 'string' },
          byteSize: { type: 'integer' },
          width: { type: 'integer' },
          height: { type: 'integer' },
          source: { type: 'string' },
          predictionId: { type: 'string', nullable: true },
          predictedDigit: { type: 'integer', nullable: true },
          modelVersion: { type: 'string', nullable: true },
          training: {
            type: 'object',
            nullable: true,
            required: ['pending', 'threshold'],
            description:
              'Progress towards the next training run, counted after this feedback was stored; null when the database could not count (the feedback is stored all the same).',
            properties: {
              pending: { type: 'integer', description: 'Feedback images no training run has used yet, this one included' },
              threshold: {
                type: 'integer',
                description: 'TRAINING_THRESHOLD: at this many the training service starts a run at its next check; its model serves only if it passes the gate',
              },
            },
          },
        },
      },
      Model: {
        type: 'object',
        required: ['version', 'created', 'metrics', 'training', 'backend'],
        properties: {
          version: { type: 'string' },
          created: { type: 'string', format: 'date-time' },
          parent: { type: 'string', nullable: true },
          metrics: { type: 'object' },
          training: { type: 'object' },
          input: { type: 'object' },
          preprocessing: { type: 'object' },
          labels: { type: 'array', items: { type: 'string' } },
          backend: { type: 'string' },
        },
      },
      Readiness: {
        type: 'object',
        properties: {
          status: { type: 'string' },
          backend: { type: 'string' },
          modelVersion: { type: 'string', nullable: true },
          checks: {
            type: 'object',
            properties: { model: { type: 'string', enum: ['ok', 'failed'] }, database: { type: 'string', enum: ['ok', 'failed'] }, storage: { type: 'string', enum: ['ok', 'failed'] }, startup: { type: 'string', enum: ['ok', 'failed'], description: 'failed while migrations or buckets are still being set up' } },
          },
        },
      },
    },
  },
} as const;

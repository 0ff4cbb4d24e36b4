/** The webapp's HTTP API, served at /docs/openapi.json; a test checks every route here exists. */
const errorResponse = (description: string) => ({
  description,
  content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } },
});

const imageField = {
  type: 'string',
  format: 'binary',
  description: 'PNG, JPEG, GIF or WebP; a digit dark on light or light on dark, any size within the limits',
};

export const openApiDocument = {
  openapi: '3.0.3',
  info: {
    title: 'mlpl webapp',
    version: '1.0.0',
    description:
      'Classify a handwritten digit and correct the answer. Corrections are stored (image in object storage, label in MySQL) and used by the training service.',
  },
  paths: {
    '/api/predict': {
      post: {
        summary: 'Classify a digit image',
        requestBody: {
          required: true,
          content: { 'multipart/form-data': { schema: { type: 'object', required: ['image'], properties: { image: imageField } } } },
        },
        responses: {
          '200': { description: 'The prediction', content: { 'application/json': { schema: { $ref: '#/components/schemas/Prediction' } } } },
          '400': errorResponse('Missing image, empty file, unexpected field, too many files or fields, malformed multipart body'),
          '413': errorResponse('The file is larger than MAX_UPLOAD_BYTES'),
          '415': errorResponse('Not an image of an accepted format'),
          '422': errorResponse('Corrupt image, too many pixels (MAX_IMAGE_PIXELS) or no ink'),
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
          '400': errorResponse('Missing or invalid label, image or predictionId, an unexpected field, too many files or fields, malformed multipart body'),
          '413': errorResponse('The file is larger than MAX_UPLOAD_BYTES'),
          '415': errorResponse('Not an image of an accepted format'),
          '422': errorResponse('Corrupt or blank image, too many pixels, an unknown predictionId, or one made for a different image'),
          '503': errorResponse('Database or storage unavailable or stalled; no row was written (an uploaded object may stay, harmlessly: it is content-addressed)'),
        },
      },
    },
    '/api/model': {
      get: {
        summary: 'The model in service',
        responses: { '200': { description: 'Its metadata', content: { 'application/json': { schema: { $ref: '#/components/schemas/Model' } } } } },
      },
    },
    '/healthz': { get: { summary: 'Liveness', responses: { '200': { description: 'The process answers' } } } },
    '/readyz': {
      get: {
        summary: 'Readiness: model loaded, database and storage reachable',
        responses: {
          '200': { description: 'Ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
          '503': { description: 'Not ready', content: { 'application/json': { schema: { $ref: '#/components/schemas/Readiness' } } } },
        },
      },
    },
    '/metrics': { get: { summary: 'Prometheus metrics', responses: { '200': { description: 'Text exposition format' } } } },
  },
  components: {
    schemas: {
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
          checks: { type: 'object', additionalProperties: { type: 'string' } },
        },
      },
    },
  },
} as const;

import { describe, expect, it } from 'vitest';
import { NovaHttpError, NovaTransportError, extractApiMessage, formatHttpError } from '../../lib/systems/nova/errors.js';
import { classifyFailure } from '../../lib/systems/nova/retry.js';
import { Secret } from '../../lib/shared/secret.js';

describe('API messages', () => {
  it('reads Nova\'s fault wrapper, Keystone\'s error object, HTML and text', () => {
    expect(extractApiMessage('{"conflictingRequest": {"code": 409, "message": "Cannot \'evacuate\' instance abc while it is in task_state rebuilding"}}')).toBe('Cannot \'evacuate\' instance abc while it is in task_state rebuilding');
    expect(extractApiMessage('{"error": {"code": 401, "title": "Unauthorized", "message": "The request you have made requires authentication."}}')).toBe('The request you have made requires authentication.');
    expect(extractApiMessage('<html><body><h1>502 Bad Gateway</h1>\n<p>nginx</p></body></html>')).toBe('502 Bad Gateway nginx');
    expect(extractApiMessage('')).toBe('');
    expect(extractApiMessage('{"itemNotFound": {"message": "line one\\nline two"}}')).toBe('line one line two');
  });
});

describe('HTTP errors', () => {
  const details = { service: 'Nova' as const, method: 'POST', path: '/v2.1/servers/abc/action', status: 400, apiMessage: 'Compute service of cmp2 is still in use.', requestId: 'req-1234' };

  it('is one line with status, Nova\'s message, the request ID and what to do', () => {
    const message = formatHttpError(details);
    expect(message).toBe('Nova POST /v2.1/servers/abc/action: HTTP 400 Bad Request: Compute service of cmp2 is still in use. (request req-1234); look for req-1234 in the nova-api log');
    expect(message).not.toContain('\n');
  });

  it.each([
    [401, 'Keystone', /check \[nova\] username\/password or the application credential/],
    [403, 'Nova', /needs the admin role/],
    [406, 'Nova', /microversion_floor/],
    [409, 'Nova', /retry once its task ends/],
  ] as const)('HTTP %i from %s says what to fix', (status, service, hint) => {
    expect(new NovaHttpError({ ...details, status, service }).message).toMatch(hint);
  });

  it('keeps status, message and request ID as fields', () => {
    const error = new NovaHttpError(details);
    expect([error.status, error.apiMessage, error.requestId, error.name]).toEqual([400, 'Compute service of cmp2 is still in use.', 'req-1234', 'NovaHttpError']);
  });

  it('scrubs passwords and tokens that an API echoes back', () => {
    const password = new Secret('pa55-word-never-shown');
    const token = new Secret('gAAAAABtoken-value-never-shown');
    const error = new NovaHttpError({ ...details, status: 401, service: 'Keystone', apiMessage: `bad password ${password.reveal()} for token ${token.reveal()}` });
    expect(error.message).not.toContain('pa55-word-never-shown');
    expect(error.apiMessage).not.toContain('gAAAAABtoken-value-never-shown');
    expect(error.message).toContain('bad password *** for token ***');
  });
});

describe('which failures are retried', () => {
  const http = (status: number, apiMessage = '') => new NovaHttpError({ service: 'Nova', method: 'POST', path: '/x', status, apiMessage });

  it.each([
    ['connection refused: never reached Nova', new NovaTransportError('x', 'ECONNREFUSED', false), 'transient'],
    ['connection reset: may have reached Nova', new NovaTransportError('x', 'ECONNRESET', true), 'ambiguous'],
    ['timeout', new NovaTransportError('x', 'TimeoutError', true), 'ambiguous'],
    ['TLS failure', new NovaTransportError('x', 'DEPTH_ZERO_SELF_SIGNED_CERT', false), 'permanent'],
    ['409 while a task runs', http(409, 'Cannot \'evacuate\' instance abc while it is in task_state rebuilding'), 'transient'],
    ['409 for anything else', http(409, 'Instance abc is locked'), 'permanent'],
    ['429', http(429), 'transient'],
    ['500', http(500), 'ambiguous'],
    ['503', http(503), 'ambiguous'],
    ['400', http(400, 'Compute service of cmp2 is still in use.'), 'permanent'],
    ['404', http(404), 'permanent'],
    ['a plain Error', new Error('bug'), 'permanent'],
  ])('%s', (_name, error, expected) => {
    expect(classifyFailure(error)).toBe(expected);
  });
});

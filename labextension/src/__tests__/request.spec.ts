/**
 * The request layer: URLs, bodies, and how each kind of failure reads.
 */
import { ServerConnection } from '@jupyterlab/services';

import { APIError, CheckpointAPI, requestAPI } from '../request';
import { EXTENSION_VERSION } from '../tokens';

interface ISeen {
  method: string;
  url: string;
  body: string;
}

function fakeServer(answer: (seen: ISeen) => Response | Promise<Response>): {
  settings: ServerConnection.ISettings;
  seen: ISeen[];
} {
  const seen: ISeen[] = [];
  const fetch = async (request: Request): Promise<Response> => {
    const entry = {
      method: request.method,
      // ServerConnection appends a timestamp to defeat caches; it is no part of the route.
      url: request.url.replace(/[?&]\d{10,}$/, ''),
      body: await request.text()
    };
    seen.push(entry);
    return answer(entry);
  };
  const settings = ServerConnection.makeSettings({
    baseUrl: 'http://localhost:8888/lab-base/',
    fetch: fetch as unknown as typeof window.fetch
  });
  return { settings, seen };
}

async function failure(pending: Promise<unknown>): Promise<APIError> {
  try {
    await pending;
  } catch (error) {
    expect(error).toBeInstanceOf(APIError);
    return error as APIError;
  }
  throw new Error('the request succeeded');
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { 'Content-Type': 'application/json' }
  });
}

describe('requestAPI', () => {
  it('calls the route under the base URL and parses the reply', async () => {
    const { settings, seen } = fakeServer(() =>
      json(200, { version: '1.2.3' })
    );
    const reply = await requestAPI<{ version: string }>(
      'version',
      {},
      settings
    );
    expect(reply.version).toBe('1.2.3');
    expect(seen[0].url).toBe(
      'http://localhost:8888/lab-base/jellycell/api/version'
    );
    expect(seen[0].method).toBe('GET');
  });

  it('resolves to undefined for an empty 204 reply', async () => {
    const { settings } = fakeServer(() => new Response(null, { status: 204 }));
    await expect(
      requestAPI('checkpoints/x', { method: 'DELETE' }, settings)
    ).resolves.toBeUndefined();
  });

  it("shows the server's own message for an error report", async () => {
    const { settings } = fakeServer(() =>
      json(409, {
        schema_version: 1,
        error: 'checkpoint "a" exists',
        message: 'checkpoint "a" exists; pick another name'
      })
    );
    const error = await failure(
      requestAPI('checkpoints', { method: 'POST' }, settings)
    );
    expect(error.kind).toBe('server');
    expect(error.status).toBe(409);
    expect(error.message).toBe('checkpoint "a" exists; pick another name');
  });

  it('falls back to the contract field "error" when there is no "message"', async () => {
    const { settings } = fakeServer(() =>
      json(404, { schema_version: 1, error: "no checkpoint named 'b'" })
    );
    const error = await failure(requestAPI('checkpoints/b', {}, settings));
    expect(error.kind).toBe('server');
    expect(error.message).toBe("no checkpoint named 'b'");
  });

  it('reads a 404 without an error report as a missing server extension', async () => {
    const { settings } = fakeServer(
      () => new Response('<html>404: Not Found</html>', { status: 404 })
    );
    const error = await failure(requestAPI('version', {}, settings));
    expect(error.kind).toBe('missing');
    expect(error.message).toContain(
      'server extension is not installed or not enabled'
    );
  });

  it('names the status when a non-JSON error arrives', async () => {
    const { settings } = fakeServer(
      () => new Response('boom', { status: 502, statusText: 'Bad Gateway' })
    );
    const error = await failure(requestAPI('version', {}, settings));
    expect(error.kind).toBe('server');
    expect(error.message).toBe('The server answered 502 Bad Gateway.');
  });

  it('reports a network failure as such', async () => {
    const { settings } = fakeServer(() => {
      throw new TypeError('Failed to fetch');
    });
    const error = await failure(requestAPI('version', {}, settings));
    expect(error.kind).toBe('network');
    expect(error.message).toContain('Could not reach the Jupyter server');
  });
});

describe('CheckpointAPI', () => {
  it('accepts a server of its own version', async () => {
    const { settings } = fakeServer(() =>
      json(200, {
        schema_version: 1,
        version: EXTENSION_VERSION,
        api_version: 1
      })
    );
    await expect(
      new CheckpointAPI(settings).checkVersion()
    ).resolves.toBeUndefined();
  });

  it('names both versions when the server differs', async () => {
    const { settings } = fakeServer(() =>
      json(200, { schema_version: 1, version: '9.9.9', api_version: 1 })
    );
    const error = await failure(new CheckpointAPI(settings).checkVersion());
    expect(error.kind).toBe('version');
    expect(error.message).toContain('version 9.9.9');
    expect(error.message).toContain(`version ${EXTENSION_VERSION}`);
  });

  it('encodes query arguments and checkpoint names', async () => {
    const { settings, seen } = fakeServer(() =>
      json(200, { schema_version: 1, project: 'a b/c', checkpoints: [] })
    );
    const api = new CheckpointAPI(settings);
    await api.list('a b/c&d');
    expect(seen[0].url).toBe(
      'http://localhost:8888/lab-base/jellycell/api/checkpoints?project=a%20b%2Fc%26d'
    );
    expect(api.archiveUrl('x y', 'p')).toBe(
      'http://localhost:8888/lab-base/jellycell/api/checkpoints/x%20y/archive?project=p'
    );
  });

  it('posts create, restore and verify bodies as JSON', async () => {
    const { settings, seen } = fakeServer(() => json(200, {}));
    const api = new CheckpointAPI(settings);
    await api.create({ project: 'demo', message: 'before refactor' });
    await api.restore('n1', {
      project: 'demo',
      into: 'elsewhere',
      force: true
    });
    await api.verify('n1', 'demo');
    expect(
      seen.map(s => [s.method, s.url.split('/jellycell/api/')[1]])
    ).toEqual([
      ['POST', 'checkpoints'],
      ['POST', 'checkpoints/n1/restore'],
      ['POST', 'checkpoints/n1/verify']
    ]);
    expect(JSON.parse(seen[0].body)).toEqual({
      project: 'demo',
      message: 'before refactor'
    });
    expect(JSON.parse(seen[1].body)).toEqual({
      project: 'demo',
      into: 'elsewhere',
      force: true
    });
    expect(JSON.parse(seen[2].body)).toEqual({ project: 'demo' });
  });

  it('deletes with the project in the query', async () => {
    const { settings, seen } = fakeServer(
      () => new Response(null, { status: 204 })
    );
    await new CheckpointAPI(settings).remove('n1', 'demo');
    expect(seen[0].method).toBe('DELETE');
    expect(seen[0].url).toBe(
      'http://localhost:8888/lab-base/jellycell/api/checkpoints/n1?project=demo'
    );
  });
});

/**
 * The one way this extension talks to the server: typed calls to the
 * jellycell-jupyter REST routes, with failures turned into sentences a user can act on.
 */
import { URLExt } from '@jupyterlab/coreutils';
import { ServerConnection } from '@jupyterlab/services';
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';

import {
  API_NAMESPACE,
  EXTENSION_VERSION,
  ICheckpointCreateReport,
  ICheckpointListReport,
  ICheckpointRestoreReport,
  ICheckpointVerifyReport,
  ICreateRequest,
  IErrorReport,
  IOperationsReply,
  IProjectsReply,
  IRestoreRequest,
  IVersionReply
} from './tokens';

/** Why a request failed: the server said no, the extension is absent or of another version, or the network failed. */
export type APIErrorKind = 'server' | 'missing' | 'version' | 'network';

/** A failed call; `message` is what the panel shows. */
export class APIError extends Error {
  /**
   * @param kind - why the call failed
   * @param message - a sentence for the user
   * @param status - the HTTP status, 0 when no response arrived
   */
  constructor(
    readonly kind: APIErrorKind,
    message: string,
    readonly status = 0
  ) {
    super(message);
    this.name = 'APIError';
  }
}

/**
 * Call a route under `<base_url>/jellycell/api/` and parse its JSON reply.
 *
 * @param endPoint - the route below the namespace, with its query string
 * @param init - method, body and headers of the request
 * @param settings - the server connection; the page's own by default
 * @param trans - the translation bundle for error messages
 * @returns the parsed body, or `undefined` for an empty reply (204)
 * @throws {APIError} with kind `missing` when the route does not exist, `server`
 *   with the server's own message for any other error status, `network` when no
 *   response came back
 */
export async function requestAPI<T>(
  endPoint: string,
  init: RequestInit = {},
  settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
  trans: TranslationBundle = nullTranslator.load('jellycell_jupyter')
): Promise<T> {
  const url = URLExt.join(settings.baseUrl, API_NAMESPACE, endPoint);

  let response: Response;
  try {
    response = await ServerConnection.makeRequest(url, init, settings);
  } catch (error) {
    throw new APIError(
      'network',
      trans.__('Could not reach the Jupyter server: %1', String(error))
    );
  }

  const text = await response.text();
  const body = parseJSON(text);

  if (!response.ok) {
    throw errorFromResponse(response.status, response.statusText, body, trans);
  }
  return (text ? body : undefined) as T;
}

function parseJSON(text: string): unknown {
  if (!text) {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isErrorReport(body: unknown): body is IErrorReport {
  return (
    typeof body === 'object' &&
    body !== null &&
    typeof (body as IErrorReport).error === 'string'
  );
}

/**
 * Build the error for a non-2xx reply.
 *
 * Our routes always answer with an error report; a 404 without one means the
 * server has no such route, that is, the server extension is not running.
 */
export function errorFromResponse(
  status: number,
  statusText: string,
  body: unknown,
  trans: TranslationBundle = nullTranslator.load('jellycell_jupyter')
): APIError {
  if (isErrorReport(body)) {
    return new APIError('server', body.message || body.error, status);
  }
  if (status === 404) {
    return new APIError('missing', missingMessage(trans), status);
  }
  return new APIError(
    'server',
    trans.__('The server answered %1 %2.', String(status), statusText),
    status
  );
}

/** What the panel says when the server extension is absent. */
export function missingMessage(trans: TranslationBundle): string {
  return trans.__(
    'The jellycell-jupyter server extension is not installed or not enabled on this Jupyter server. Install the jellycell-jupyter package in the environment that runs the server, or enable it with `jupyter server extension enable jellycell_jupyter`, then restart the server.'
  );
}

/** What the panel says when frontend and server extension disagree on the version. */
export function versionMessage(
  trans: TranslationBundle,
  server: string
): string {
  return trans.__(
    'The jellycell-jupyter server extension is version %1, but this sidebar is version %2. Install one version of the jellycell-jupyter package for both (reinstall it in the server environment and restart the server), then reload this page.',
    server,
    EXTENSION_VERSION
  );
}

function query(params: Record<string, string>): string {
  return URLExt.objectToQueryString(params);
}

function segment(name: string): string {
  return encodeURIComponent(name);
}

/** The calls the sidebar makes; an interface so the model can be tested without a server. */
export interface ICheckpointAPI {
  /** Check that the server extension is there and of this frontend's version. */
  checkVersion(): Promise<void>;
  /** The project holding `path` and the projects below it. */
  projects(path: string): Promise<IProjectsReply>;
  /** The checkpoints of a project, newest first. */
  list(project: string): Promise<ICheckpointListReport>;
  /** Create a checkpoint. */
  create(request: ICreateRequest): Promise<ICheckpointCreateReport>;
  /** Restore a checkpoint. */
  restore(
    name: string,
    request: IRestoreRequest
  ): Promise<ICheckpointRestoreReport>;
  /** Check an archive end to end. */
  verify(name: string, project: string): Promise<ICheckpointVerifyReport>;
  /** Delete a checkpoint. */
  remove(name: string, project: string): Promise<void>;
  /** The operations the server is running for a project. */
  operations(project: string): Promise<IOperationsReply>;
  /** The URL that downloads a checkpoint's archive. */
  archiveUrl(name: string, project: string): string;
}

/** The REST client of the jellycell-jupyter server extension. */
export class CheckpointAPI implements ICheckpointAPI {
  /**
   * @param settings - the server connection; the page's own by default
   * @param trans - the translation bundle for error messages
   */
  constructor(
    readonly settings: ServerConnection.ISettings = ServerConnection.makeSettings(),
    readonly trans: TranslationBundle = nullTranslator.load('jellycell_jupyter')
  ) {}

  async checkVersion(): Promise<void> {
    const reply = await this._request<IVersionReply>('version');
    if (!reply || reply.version !== EXTENSION_VERSION) {
      throw new APIError(
        'version',
        versionMessage(this.trans, reply?.version ?? '?')
      );
    }
  }

  projects(path: string): Promise<IProjectsReply> {
    return this._request<IProjectsReply>('projects' + query({ path }));
  }

  list(project: string): Promise<ICheckpointListReport> {
    return this._request<ICheckpointListReport>(
      'checkpoints' + query({ project })
    );
  }

  create(request: ICreateRequest): Promise<ICheckpointCreateReport> {
    return this._request<ICheckpointCreateReport>('checkpoints', {
      method: 'POST',
      body: JSON.stringify(request)
    });
  }

  restore(
    name: string,
    request: IRestoreRequest
  ): Promise<ICheckpointRestoreReport> {
    return this._request<ICheckpointRestoreReport>(
      `checkpoints/${segment(name)}/restore`,
      { method: 'POST', body: JSON.stringify(request) }
    );
  }

  verify(name: string, project: string): Promise<ICheckpointVerifyReport> {
    return this._request<ICheckpointVerifyReport>(
      `checkpoints/${segment(name)}/verify`,
      { method: 'POST', body: JSON.stringify({ project }) }
    );
  }

  async remove(name: string, project: string): Promise<void> {
    await this._request<void>(
      `checkpoints/${segment(name)}` + query({ project }),
      { method: 'DELETE' }
    );
  }

  operations(project: string): Promise<IOperationsReply> {
    return this._request<IOperationsReply>('operations' + query({ project }));
  }

  archiveUrl(name: string, project: string): string {
    return URLExt.join(
      this.settings.baseUrl,
      API_NAMESPACE,
      `checkpoints/${segment(name)}/archive` + query({ project })
    );
  }

  private _request<T>(endPoint: string, init: RequestInit = {}): Promise<T> {
    return requestAPI<T>(endPoint, init, this.settings, this.trans);
  }
}

/**
 * The JSON shapes the jellycell-jupyter server extension sends and receives.
 *
 * Field names mirror the pydantic models of `jellycell_jupyter.archive.reports`
 * and the server's own bodies; a test on the Python side compares them.
 */

/** The plugin id, also the key of the settings schema. */
export const PLUGIN_ID = 'jellycell-jupyter:plugin';

/** The version of this frontend; the server extension must report the same. */
export const EXTENSION_VERSION = '0.1.0';

/** Where the REST routes live, relative to the server's base URL. */
export const API_NAMESPACE = 'jellycell/api';

/** The commands this extension registers. */
export namespace CommandIDs {
  export const createCheckpoint = 'jellycell:create-checkpoint';
  export const openPanel = 'jellycell:open-panel';
  export const refresh = 'jellycell:refresh-checkpoints';
}

/** A jellycell project as the server describes it; paths are relative to the server root. */
export interface IProjectInfo {
  name: string;
  path: string;
  checkpoints_path: string;
}

/** `GET /jellycell/api/projects?path=P`: the project holding P and the projects below it. */
export interface IProjectsReply {
  schema_version: number;
  path: string;
  project: IProjectInfo | null;
  projects: IProjectInfo[];
}

/** `GET /jellycell/api/version`: the package version and the REST API's version. */
export interface IVersionReply {
  schema_version: number;
  version: string;
  api_version: number;
}

/** A path left out of an archive, and why. */
export interface ISkippedPath {
  path: string;
  reason: string;
}

/** The state of an archive as the listing sees it. */
export type CheckpointStatus = 'ok' | 'damaged' | 'incomplete';

/** One checkpoint in a listing (`CheckpointListEntry`). */
export interface ICheckpointListEntry {
  name: string;
  path: string;
  created_at: string;
  message: string | null;
  size_bytes: number;
  files?: number | null;
  status?: CheckpointStatus;
  problem?: string | null;
}

/** A project's checkpoints, newest first (`CheckpointListReport`). */
export interface ICheckpointListReport {
  schema_version: number;
  project: string;
  checkpoints: ICheckpointListEntry[];
  project_name?: string | null;
}

/** What creating a checkpoint made (`CheckpointCreateReport`). */
export interface ICheckpointCreateReport {
  schema_version: number;
  project: string;
  path: string;
  files: number;
  size_bytes: number;
  message: string | null;
  name?: string;
  archive_sha256?: string | null;
  reused_bytes?: number;
  skipped?: ISkippedPath[];
  changed?: string[];
}

/** Where a restore put a checkpoint (`CheckpointRestoreReport`). */
export interface ICheckpointRestoreReport {
  schema_version: number;
  project: string;
  source: string;
  target: string;
  name?: string;
  files?: number;
  merged?: boolean;
}

/** The outcome of checking an archive end to end (`CheckpointVerifyReport`). */
export interface ICheckpointVerifyReport {
  schema_version: number;
  project: string;
  name: string;
  path: string;
  ok: boolean;
  files?: number;
  problems?: string[];
  digests_checked?: boolean;
}

/** The body of `POST /jellycell/api/checkpoints`. */
export interface ICreateRequest {
  project: string;
  message?: string | null;
  name?: string | null;
}

/** The body of `POST /jellycell/api/checkpoints/NAME/restore`. */
export interface IRestoreRequest {
  project: string;
  into?: string | null;
  force?: boolean;
}

/** One archiver call running on a project, with its latest progress. */
export interface IOperation {
  kind: 'create' | 'restore' | 'verify' | 'delete';
  name: string | null;
  started_at: string;
  seconds: number;
  phase: 'scan' | 'archive' | 'restore' | 'verify' | null;
  files_done: number;
  files_total: number;
  bytes_done: number;
  bytes_total: number;
  fraction: number;
}

/** `GET /jellycell/api/operations?project=P`: what runs on the project, if anything. */
export interface IOperationsReply {
  schema_version: number;
  project: string;
  operation: IOperation | null;
}

/** The error body every route sends with a 4xx or 5xx status (`ErrorReport`, plus jupyter_server's `message`). */
export interface IErrorReport {
  schema_version: number;
  error: string;
  message?: string;
}

/** The user settings of the sidebar, as in `schema/plugin.json`. */
export interface ISidebarSettings {
  saveBeforeCreate: 'always' | 'ask' | 'never';
  progressInterval: number;
}

/** The defaults that apply when no settings registry is available. */
export const DEFAULT_SETTINGS: ISidebarSettings = {
  saveBeforeCreate: 'always',
  progressInterval: 300
};

/**
 * What the sidebar knows: the folder it follows, the project there, its
 * checkpoints, the running action and its progress, and the last outcome.
 */
import { nullTranslator, TranslationBundle } from '@jupyterlab/translation';
import { ISignal, Signal } from '@lumino/signaling';

import { APIError, ICheckpointAPI } from './request';
import {
  ICheckpointCreateReport,
  ICheckpointListEntry,
  ICheckpointRestoreReport,
  ICheckpointVerifyReport,
  IOperation,
  IProjectInfo
} from './tokens';

/**
 * Where the sidebar stands: still asking, showing a project, outside any
 * project, or unable to work because the server extension is absent or differs.
 */
export type PanelState = 'loading' | 'project' | 'no-project' | 'unavailable';

/** Which action is running; `null` when none is. */
export type Action = 'create' | 'restore' | 'verify' | 'delete' | null;

/** How a checkpoint should be restored. */
export interface IRestoreOptions {
  /** A folder relative to the server root; the default sibling folder when absent. */
  into?: string;
  /** Merge over an existing, non-empty folder. */
  force?: boolean;
}

/** The state behind the checkpoint sidebar. */
export class CheckpointModel {
  /**
   * @param api - the server calls
   * @param options.trans - the translation bundle for messages
   * @param options.progressInterval - milliseconds between progress polls
   */
  constructor(
    readonly api: ICheckpointAPI,
    options: { trans?: TranslationBundle; progressInterval?: number } = {}
  ) {
    this._trans = options.trans ?? nullTranslator.load('jellycell_jupyter');
    this.progressInterval = options.progressInterval ?? 300;
  }

  /** Emitted whenever anything shown in the panel changed. */
  get changed(): ISignal<this, void> {
    return this._changed;
  }

  /** Milliseconds between two polls of the operations route while an action runs. */
  progressInterval: number;

  /** The folder the sidebar follows, relative to the server root. */
  get folder(): string {
    return this._folder;
  }

  get state(): PanelState {
    return this._state;
  }

  /** The project whose checkpoints are shown. */
  get project(): IProjectInfo | null {
    return this._project;
  }

  /** True when the folder lies inside the shown project (not merely above it). */
  get inProject(): boolean {
    return this._inProject;
  }

  /** The projects below the folder, offered for picking. */
  get below(): IProjectInfo[] {
    return this._below;
  }

  /** The shown project's checkpoints, newest first. */
  get checkpoints(): ICheckpointListEntry[] {
    return this._checkpoints;
  }

  get action(): Action {
    return this._action;
  }

  /** The latest progress of the running action, when the server reports one. */
  get progress(): IOperation | null {
    return this._progress;
  }

  /** The last failure, in the server's words; `null` after a success. */
  get error(): string | null {
    return this._error;
  }

  /** The last success, said in a sentence. */
  get notice(): string | null {
    return this._notice;
  }

  /** Why the sidebar cannot work, when `state` is `unavailable`. */
  get unavailable(): string | null {
    return this._unavailable;
  }

  /** Follow another folder; does nothing when it is the one already followed. */
  async setFolder(folder: string): Promise<void> {
    const normal = normalize(folder);
    if (normal === this._folder && this._state !== 'loading') {
      return;
    }
    this._folder = normal;
    this._picked = null;
    await this.refresh();
  }

  /** Show the checkpoints of one of the projects below the folder. */
  async pick(path: string): Promise<void> {
    this._picked = path;
    await this.refresh();
  }

  /** Ask the server again for the project and its checkpoints. */
  async refresh(): Promise<void> {
    const generation = ++this._generation;

    try {
      if (!this._versionChecked) {
        await this.api.checkVersion();
        this._versionChecked = true;
      }
      const reply = await this.api.projects(this._folder);
      if (generation !== this._generation) {
        return;
      }

      this._below = (reply.projects ?? []).filter(
        p => p.path !== reply.project?.path
      );
      this._inProject = reply.project !== null;
      this._project =
        reply.project ?? this._below.find(p => p.path === this._picked) ?? null;

      if (!this._project) {
        this._checkpoints = [];
        this._state = 'no-project';
        this._changed.emit();
        return;
      }

      const listing = await this.api.list(this._project.path);
      if (generation !== this._generation) {
        return;
      }
      this._checkpoints = listing.checkpoints;
      this._state = 'project';
      this._unavailable = null;
    } catch (error) {
      if (generation !== this._generation) {
        return;
      }
      this._takeError(error);
    }
    this._changed.emit();
  }

  /**
   * Create a checkpoint of the shown project.
   *
   * @returns the report, or `undefined` when it failed (see `error`)
   */
  async create(message: string): Promise<ICheckpointCreateReport | undefined> {
    const text = message.trim();
    const report = await this._run('create', project =>
      this.api.create({ project, message: text || null })
    );
    if (report) {
      this._notice = this._trans.__(
        'Created checkpoint %1 (%2 files, %3).',
        report.name || basename(report.path),
        String(report.files),
        formatBytes(report.size_bytes)
      );
    }
    return this._finish(report);
  }

  /**
   * Restore a checkpoint into a new sibling folder or the folder given.
   *
   * @returns the report, or `undefined` when it failed (see `error`)
   */
  async restore(
    name: string,
    options: IRestoreOptions = {}
  ): Promise<ICheckpointRestoreReport | undefined> {
    const report = await this._run('restore', project =>
      this.api.restore(name, {
        project,
        into: options.into || null,
        force: options.force ?? false
      })
    );
    if (report) {
      this._notice = this._trans.__(
        'Restored checkpoint %1 into %2.',
        name,
        report.target || '/'
      );
    }
    return this._finish(report);
  }

  /**
   * Check a checkpoint's archive end to end.
   *
   * @returns the report, or `undefined` when the request failed (see `error`)
   */
  async verify(name: string): Promise<ICheckpointVerifyReport | undefined> {
    const report = await this._run('verify', project =>
      this.api.verify(name, project)
    );
    if (report && report.ok) {
      this._notice = this._trans.__(
        'Checkpoint %1 is intact (%2 files checked).',
        name,
        String(report.files ?? 0)
      );
    } else if (report) {
      this._error = this._trans.__(
        'Checkpoint %1 failed verification: %2',
        name,
        (report.problems ?? []).join('; ')
      );
    }
    return this._finish(report);
  }

  /**
   * Delete a checkpoint.
   *
   * @returns whether it was deleted
   */
  async remove(name: string): Promise<boolean> {
    const done = await this._run('delete', async project => {
      await this.api.remove(name, project);
      return true;
    });
    if (done) {
      this._notice = this._trans.__('Deleted checkpoint %1.', name);
    }
    return (await this._finish(done)) ?? false;
  }

  /** The URL that downloads a checkpoint of the shown project. */
  archiveUrl(name: string): string | null {
    return this._project ? this.api.archiveUrl(name, this._project.path) : null;
  }

  /** Forget the last notice and error. */
  dismiss(): void {
    this._notice = null;
    this._error = null;
    this._changed.emit();
  }

  private async _run<T>(
    action: Exclude<Action, null>,
    work: (project: string) => Promise<T>
  ): Promise<T | undefined> {
    const project = this._project;
    if (!project || this._action) {
      return undefined;
    }
    this._action = action;
    this._progress = null;
    this._error = null;
    this._notice = null;
    this._changed.emit();

    const stop = this._pollProgress(project.path, action);
    try {
      return await work(project.path);
    } catch (error) {
      this._takeError(error);
      return undefined;
    } finally {
      stop();
      this._action = null;
      this._progress = null;
    }
  }

  private async _finish<T>(result: T | undefined): Promise<T | undefined> {
    this._changed.emit();
    await this.refresh();
    return result;
  }

  private _pollProgress(project: string, action: string): () => void {
    if (action !== 'create' && action !== 'restore' && action !== 'verify') {
      return () => undefined;
    }
    let stopped = false;
    let timer: ReturnType<typeof setTimeout> | null = null;

    const poll = async (): Promise<void> => {
      try {
        const reply = await this.api.operations(project);
        if (stopped) {
          return;
        }
        const operation = reply.operation;
        if (operation && operation.kind === action) {
          this._progress = operation;
          this._changed.emit();
        }
      } catch {
        // Progress is a nicety: a failed poll must not fail the action itself.
      }
      if (!stopped) {
        timer = setTimeout(poll, this.progressInterval);
      }
    };
    timer = setTimeout(poll, this.progressInterval);

    return () => {
      stopped = true;
      if (timer !== null) {
        clearTimeout(timer);
      }
    };
  }

  private _takeError(error: unknown): void {
    if (
      error instanceof APIError &&
      (error.kind === 'missing' || error.kind === 'version')
    ) {
      this._state = 'unavailable';
      this._unavailable = error.message;
      this._versionChecked = false;
      this._checkpoints = [];
      return;
    }
    this._error = error instanceof Error ? error.message : String(error);
    if (this._state === 'loading') {
      this._state = 'no-project';
    }
  }

  private _trans: TranslationBundle;
  private _changed = new Signal<this, void>(this);
  private _folder = '';
  private _picked: string | null = null;
  private _generation = 0;
  private _versionChecked = false;
  private _state: PanelState = 'loading';
  private _project: IProjectInfo | null = null;
  private _inProject = false;
  private _below: IProjectInfo[] = [];
  private _checkpoints: ICheckpointListEntry[] = [];
  private _action: Action = null;
  private _progress: IOperation | null = null;
  private _error: string | null = null;
  private _notice: string | null = null;
  private _unavailable: string | null = null;
}

/** A server path without leading, trailing or doubled slashes. */
export function normalize(path: string): string {
  return path
    .replace(/\\/g, '/')
    .split('/')
    .filter(part => part && part !== '.')
    .join('/');
}

/** The last part of a path. */
export function basename(path: string): string {
  const parts = normalize(path).split('/');
  return parts[parts.length - 1] ?? '';
}

/** The folder part of a path; `''` for the server root. */
export function dirname(path: string): string {
  const parts = normalize(path).split('/');
  parts.pop();
  return parts.join('/');
}

/** The sibling folder a restore lands in by default (the archiver decides; this names it). */
export function defaultRestoreFolder(
  projectPath: string,
  name: string
): string {
  const parent = dirname(projectPath);
  const folder = `${basename(projectPath) || 'project'}-restored-${name}`;
  return parent ? `${parent}/${folder}` : folder;
}

/** A size in bytes as a person reads it, in powers of 1024. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  const decimals = (value: number, unit: number): number =>
    unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  const rounded = (value: number, digits: number): number =>
    Number(value.toFixed(digits));
  let value = bytes;
  let unit = 0;
  // Rounded, not raw: 1023.9 KiB reads as 1.00 MiB.
  while (
    unit < units.length - 1 &&
    rounded(value, decimals(value, unit)) >= 1024
  ) {
    value /= 1024;
    unit += 1;
  }
  let digits = decimals(value, unit);
  if (digits > 0 && rounded(value, digits) >= 10 ** (3 - digits)) {
    digits -= 1; // 9.996 reads as 10.0, not 10.00
  }
  return `${value.toFixed(digits)} ${units[unit]}`;
}

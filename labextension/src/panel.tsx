/**
 * The checkpoint sidebar: the project of the followed folder, a create form,
 * the progress of the running action and the list of checkpoints with their actions.
 */
import { Time } from '@jupyterlab/coreutils';
import { TranslationBundle } from '@jupyterlab/translation';
import { ReactWidget, refreshIcon, UseSignal } from '@jupyterlab/ui-components';
import * as React from 'react';

import { askRestore, confirmDelete, offerOpen } from './dialogs';
import { checkpointIcon } from './icons';
import { CheckpointModel, formatBytes } from './model';
import { ICheckpointListEntry, IOperation } from './tokens';

/** What the sidebar needs from the application around it. */
export interface IPanelOptions {
  model: CheckpointModel;
  trans: TranslationBundle;
  /** Called before a checkpoint is created; resolves to `false` to cancel. */
  beforeCreate?: (projectPath: string) => Promise<boolean>;
  /** Show a folder (relative to the server root) in the file browser. */
  openFolder?: (path: string) => Promise<void>;
}

/** The left-sidebar widget. */
export class CheckpointPanel extends ReactWidget {
  /** @param options - the model, translation and application hooks */
  constructor(options: IPanelOptions) {
    super();
    this.model = options.model;
    this._trans = options.trans;
    this._beforeCreate = options.beforeCreate;
    this._openFolder = options.openFolder;
    this.id = 'jellycell-checkpoints';
    this.addClass('jp-JellycellPanel');
    this.title.icon = checkpointIcon;
    this.title.caption = this._trans.__('Jellycell checkpoints');
    this.node.setAttribute('role', 'region');
    this.node.setAttribute(
      'aria-label',
      this._trans.__('Jellycell checkpoints')
    );
  }

  readonly model: CheckpointModel;

  /** Put the keyboard focus into the message field. */
  focusMessage(): void {
    this.node
      .querySelector<HTMLInputElement>('.jp-JellycellPanel-message')
      ?.focus();
  }

  /** Save what needs saving, then create a checkpoint with the message typed in. */
  async create(message?: string): Promise<void> {
    const project = this.model.project;
    if (!project || this.model.action) {
      return;
    }
    const input = this.node.querySelector<HTMLInputElement>(
      '.jp-JellycellPanel-message'
    );
    const text = message ?? input?.value ?? '';
    if (this._beforeCreate && !(await this._beforeCreate(project.path))) {
      return;
    }
    const report = await this.model.create(text);
    if (report && input) {
      input.value = '';
    }
  }

  private async _restore(entry: ICheckpointListEntry): Promise<void> {
    const project = this.model.project;
    if (!project) {
      return;
    }
    const options = await askRestore(project.path, entry.name, this._trans);
    if (!options) {
      return;
    }
    const report = await this.model.restore(entry.name, options);
    if (
      report &&
      this._openFolder &&
      (await offerOpen(report.target, this._trans))
    ) {
      await this._openFolder(report.target);
    }
  }

  private async _delete(entry: ICheckpointListEntry): Promise<void> {
    if (await confirmDelete(entry.name, this._trans)) {
      await this.model.remove(entry.name);
    }
  }

  private _download(entry: ICheckpointListEntry): void {
    const url = this.model.archiveUrl(entry.name);
    if (!url) {
      return;
    }
    const link = document.createElement('a');
    link.href = url;
    link.download = `${entry.name}.tar.gz`;
    link.style.display = 'none';
    document.body.append(link);
    link.click();
    link.remove();
  }

  protected render(): React.ReactElement {
    return (
      <UseSignal signal={this.model.changed}>
        {() => (
          <PanelView
            model={this.model}
            trans={this._trans}
            onCreate={() => void this.create()}
            onRestore={entry => void this._restore(entry)}
            onDelete={entry => void this._delete(entry)}
            onVerify={entry => void this.model.verify(entry.name)}
            onDownload={entry => this._download(entry)}
          />
        )}
      </UseSignal>
    );
  }

  private _trans: TranslationBundle;
  private _beforeCreate?: (projectPath: string) => Promise<boolean>;
  private _openFolder?: (path: string) => Promise<void>;
}

interface IViewProps {
  model: CheckpointModel;
  trans: TranslationBundle;
  onCreate: () => void;
  onRestore: (entry: ICheckpointListEntry) => void;
  onDelete: (entry: ICheckpointListEntry) => void;
  onVerify: (entry: ICheckpointListEntry) => void;
  onDownload: (entry: ICheckpointListEntry) => void;
}

function PanelView(props: IViewProps): React.ReactElement {
  const { model, trans } = props;
  return (
    <div className="jp-JellycellPanel-content">
      <header className="jp-JellycellPanel-header">
        <h2 className="jp-JellycellPanel-title">{trans.__('Checkpoints')}</h2>
        <button
          type="button"
          className="jp-JellycellPanel-iconButton jp-JellycellPanel-refresh"
          title={trans.__('Refresh the list of checkpoints')}
          aria-label={trans.__('Refresh the list of checkpoints')}
          onClick={() => void model.refresh()}
        >
          <refreshIcon.react tag="span" />
        </button>
      </header>
      <Body {...props} />
    </div>
  );
}

function Body(props: IViewProps): React.ReactElement {
  const { model, trans } = props;
  switch (model.state) {
    case 'loading':
      return (
        <p className="jp-JellycellPanel-status">
          {trans.__('Looking for a jellycell project…')}
        </p>
      );
    case 'unavailable':
      return (
        <div className="jp-JellycellPanel-unavailable" role="alert">
          {model.unavailable}
        </div>
      );
    case 'no-project':
      return (
        <>
          <Messages model={model} />
          <NoProject model={model} trans={trans} />
        </>
      );
    default:
      return (
        <>
          <ProjectHeader model={model} trans={trans} />
          <CreateForm {...props} />
          <Progress
            operation={model.progress}
            action={model.action}
            trans={trans}
          />
          <Messages model={model} />
          <CheckpointList {...props} />
        </>
      );
  }
}

function NoProject(props: {
  model: CheckpointModel;
  trans: TranslationBundle;
}): React.ReactElement {
  const { model, trans } = props;
  const folder = '/' + model.folder;
  if (model.below.length > 0) {
    return (
      <div className="jp-JellycellPanel-empty">
        <p>
          {trans.__('%1 holds several jellycell projects. Pick one:', folder)}
        </p>
        <ProjectPicker model={model} trans={trans} />
      </div>
    );
  }
  return (
    <div className="jp-JellycellPanel-empty">
      <p className="jp-JellycellPanel-emptyTitle">
        {trans.__('%1 is not inside a jellycell project.', folder)}
      </p>
      <p>
        {trans.__(
          'Open a folder that holds a jellycell.toml (or one below it), or make this folder a project in a terminal:'
        )}
      </p>
      <pre className="jp-JellycellPanel-code">jellycell init</pre>
    </div>
  );
}

function ProjectPicker(props: {
  model: CheckpointModel;
  trans: TranslationBundle;
}): React.ReactElement {
  const { model, trans } = props;
  return (
    <select
      className="jp-mod-styled jp-JellycellPanel-picker"
      aria-label={trans.__('Project')}
      value={model.project?.path ?? ''}
      onChange={event => void model.pick(event.target.value)}
    >
      {model.project ? null : (
        <option value="">{trans.__('Choose a project…')}</option>
      )}
      {model.below.map(project => (
        <option key={project.path} value={project.path}>
          {`${project.name} (/${project.path})`}
        </option>
      ))}
    </select>
  );
}

function ProjectHeader(props: {
  model: CheckpointModel;
  trans: TranslationBundle;
}): React.ReactElement {
  const { model, trans } = props;
  const project = model.project!;
  return (
    <section
      className="jp-JellycellPanel-project"
      aria-label={trans.__('Jellycell project')}
    >
      <div
        className="jp-JellycellPanel-projectName"
        title={trans.__('Project name')}
      >
        {project.name}
      </div>
      <div
        className="jp-JellycellPanel-projectPath"
        title={trans.__('Project folder')}
      >
        {'/' + project.path}
      </div>
      {!model.inProject && model.below.length > 0 ? (
        <ProjectPicker model={model} trans={trans} />
      ) : null}
    </section>
  );
}

function CreateForm(props: IViewProps): React.ReactElement {
  const { model, trans } = props;
  const busy = model.action !== null;
  return (
    <form
      className="jp-JellycellPanel-create"
      onSubmit={event => {
        event.preventDefault();
        props.onCreate();
      }}
    >
      <input
        type="text"
        className="jp-mod-styled jp-JellycellPanel-message"
        placeholder={trans.__('Message (optional)')}
        aria-label={trans.__('Checkpoint message')}
        disabled={busy}
      />
      <button
        type="submit"
        className="jp-mod-styled jp-mod-accept jp-JellycellPanel-createButton"
        disabled={busy}
      >
        {model.action === 'create'
          ? trans.__('Creating…')
          : trans.__('Create checkpoint')}
      </button>
    </form>
  );
}

function Progress(props: {
  operation: IOperation | null;
  action: string | null;
  trans: TranslationBundle;
}): React.ReactElement | null {
  const { operation, action, trans } = props;
  if (!action || action === 'delete') {
    return null;
  }
  const label = {
    create: trans.__('Creating checkpoint'),
    restore: trans.__('Restoring checkpoint'),
    verify: trans.__('Verifying checkpoint')
  }[action] as string;
  const known = operation !== null && operation.bytes_total > 0;
  const detail = known
    ? trans.__(
        '%1 of %2 files, %3 of %4',
        String(operation.files_done),
        String(operation.files_total),
        formatBytes(operation.bytes_done),
        formatBytes(operation.bytes_total)
      )
    : trans.__('Starting…');
  return (
    <div
      className="jp-JellycellPanel-progress"
      role="status"
      aria-live="polite"
    >
      <progress
        aria-label={label}
        max={1}
        value={known ? operation.fraction : undefined}
      />
      <div className="jp-JellycellPanel-progressText">{`${label}: ${detail}`}</div>
    </div>
  );
}

function Messages(props: { model: CheckpointModel }): React.ReactElement {
  const { model } = props;
  return (
    <>
      {model.error ? (
        <div className="jp-JellycellPanel-error" role="alert">
          {model.error}
        </div>
      ) : null}
      {model.notice ? (
        <div className="jp-JellycellPanel-notice" role="status">
          {model.notice}
        </div>
      ) : null}
    </>
  );
}

function CheckpointList(props: IViewProps): React.ReactElement {
  const { model, trans } = props;
  if (model.checkpoints.length === 0) {
    return (
      <p className="jp-JellycellPanel-status">
        {trans.__('No checkpoints yet. Create the first one above.')}
      </p>
    );
  }
  return (
    <ul
      className="jp-JellycellPanel-list"
      aria-label={trans.__('Checkpoints, newest first')}
    >
      {model.checkpoints.map(entry => (
        <CheckpointRow key={entry.name} entry={entry} {...props} />
      ))}
    </ul>
  );
}

function CheckpointRow(
  props: IViewProps & { entry: ICheckpointListEntry }
): React.ReactElement {
  const { entry, model, trans } = props;
  const created = new Date(entry.created_at);
  const valid = !isNaN(created.getTime());
  const status = entry.status ?? 'ok';
  const busy = model.action !== null;
  const statusLabel =
    status === 'damaged'
      ? trans.__('damaged')
      : status === 'incomplete'
        ? trans.__('incomplete')
        : null;

  const button = (
    label: string,
    className: string,
    onClick: () => void,
    disabled = busy
  ): React.ReactElement => (
    <button
      type="button"
      className={`jp-JellycellPanel-action ${className}`}
      aria-label={trans.__('%1 checkpoint %2', label, entry.name)}
      title={trans.__('%1 checkpoint %2', label, entry.name)}
      disabled={disabled}
      onClick={onClick}
    >
      {label}
    </button>
  );

  return (
    <li
      className={`jp-JellycellPanel-row jp-mod-${status}`}
      data-checkpoint={entry.name}
      aria-label={trans.__('Checkpoint %1', entry.name)}
    >
      <div className="jp-JellycellPanel-rowHead">
        <span className="jp-JellycellPanel-name">{entry.name}</span>
        {statusLabel ? (
          <span
            className="jp-JellycellPanel-badge"
            title={entry.problem ?? statusLabel}
          >
            {statusLabel}
          </span>
        ) : null}
      </div>
      <div className="jp-JellycellPanel-meta">
        <time
          dateTime={entry.created_at}
          title={valid ? created.toLocaleString() : entry.created_at}
        >
          {valid
            ? `${created.toLocaleString()} (${Time.formatHuman(created)})`
            : entry.created_at}
        </time>
        <span className="jp-JellycellPanel-size">
          {formatBytes(entry.size_bytes)}
        </span>
      </div>
      {entry.message ? (
        <div className="jp-JellycellPanel-rowMessage">{entry.message}</div>
      ) : null}
      {entry.problem ? (
        <div className="jp-JellycellPanel-problem">{entry.problem}</div>
      ) : null}
      <div className="jp-JellycellPanel-actions">
        {button(
          trans.__('Restore'),
          'jp-mod-restore',
          () => props.onRestore(entry),
          busy || status !== 'ok'
        )}
        {button(
          trans.__('Download'),
          'jp-mod-download',
          () => props.onDownload(entry),
          status === 'incomplete'
        )}
        {button(trans.__('Verify'), 'jp-mod-verify', () =>
          props.onVerify(entry)
        )}
        {button(trans.__('Delete'), 'jp-mod-delete', () =>
          props.onDelete(entry)
        )}
      </div>
    </li>
  );
}
